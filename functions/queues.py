"""SQS consumers."""
