//! EC2 network resource types for infra (in progress).
