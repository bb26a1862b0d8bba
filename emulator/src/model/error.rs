//! Errors of the model, already in AWS's vocabulary: every error carries the
//! AWS error code a client would see, so the API layer only picks the envelope.

use std::fmt;

/// An AWS-shaped error: `code` is the exact AWS error code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub code: &'static str,
    pub message: String,
    /// HTTP status AWS answers with for this code.
    pub status: u16,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Error { code, message: message.into(), status: 400 }
    }

    pub fn with_status(mut self, status: u16) -> Self {
        self.status = status;
        self
    }

    pub fn missing(param: &str) -> Self {
        Error::new("MissingParameter", format!("The request must contain the parameter {param}"))
    }

    pub fn invalid_value(param: &str, value: &str, why: &str) -> Self {
        Error::new("InvalidParameterValue", format!("Value ({value}) for parameter {param} is invalid. {why}"))
    }

    pub fn invalid_parameter(message: impl Into<String>) -> Self {
        Error::new("InvalidParameter", message)
    }

    /// ELBv2's catch-all for bad input.
    pub fn validation(message: impl Into<String>) -> Self {
        Error::new("ValidationError", message)
    }

    pub fn dry_run() -> Self {
        Error::new("DryRunOperation", "Request would have succeeded, but DryRun flag is set.").with_status(412)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for Error {}

/// One failed item of a bulk action (`unsuccessful` in EC2's answers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsuccessful {
    pub resource_id: String,
    pub error: Error,
}
