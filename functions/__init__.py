"""The reference app's executors: each module's Executor becomes one Lambda function."""
