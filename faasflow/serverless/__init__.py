"""Serverless faasflow: a Flow's Plan compiled to Lambda functions, a Step Functions
state machine and API Gateway (SAM), and the runtime that runs inside those functions."""
