//! seamless-analyzer: placeholder, filled by its issue.
