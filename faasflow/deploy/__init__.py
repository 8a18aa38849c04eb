"""The operator's machine: the SAM CLI and its pinned tool envs, layer staging, and
stand-ins for container images on an emulator without Docker."""
