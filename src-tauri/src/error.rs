use ringdesk_core::service::ServiceError;
use serde::Serialize;

/// What a failed command tells the UI: a kind to branch on, the field to mark, a sentence to show.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UiError {
    pub kind: &'static str,
    pub field: Option<String>,
    pub message: String,
}

impl UiError {
    pub fn internal(message: impl std::fmt::Display) -> Self {
        UiError {
            kind: "internal",
            field: None,
            message: message.to_string(),
        }
    }
}

impl From<ServiceError> for UiError {
    fn from(e: ServiceError) -> Self {
        let message = e.to_string();
        match e {
            ServiceError::Invalid { field, .. } => UiError {
                kind: "invalid",
                field: Some(field),
                message,
            },
            ServiceError::NotFound => UiError {
                kind: "not_found",
                field: None,
                message,
            },
            ServiceError::Storage { .. } => UiError {
                kind: "storage",
                field: None,
                message,
            },
            ServiceError::Keyring { .. } => UiError {
                kind: "keyring",
                field: None,
                message,
            },
        }
    }
}

impl From<ringdesk_core::PhoneNumberError> for UiError {
    fn from(e: ringdesk_core::PhoneNumberError) -> Self {
        UiError {
            kind: "invalid",
            field: Some("number".into()),
            message: ringdesk_core::sentence_case(&e.to_string()),
        }
    }
}

impl From<ringdesk_app::RecordingError> for UiError {
    fn from(e: ringdesk_app::RecordingError) -> Self {
        use ringdesk_app::RecordingError as E;
        let (kind, field) = match &e {
            E::KeepDays => ("invalid", Some("keepDays".to_string())),
            E::NoRecording => ("not_found", None),
            E::Delete(_) | E::Read(_) | E::Save(_) | E::Store(_) => ("storage", None),
            E::Team(_) => ("unreachable", None),
        };
        UiError {
            kind,
            field,
            message: ringdesk_core::sentence_case(&e.to_string()),
        }
    }
}

impl From<ringdesk_app::AppError> for UiError {
    fn from(e: ringdesk_app::AppError) -> Self {
        UiError::internal(e)
    }
}

impl From<ringdesk_app::SetupError> for UiError {
    fn from(e: ringdesk_app::SetupError) -> Self {
        match e {
            ringdesk_app::SetupError::Service(s) => s.into(),
            other => UiError {
                kind: "provider",
                field: None,
                message: ringdesk_core::sentence_case(&other.to_string()),
            },
        }
    }
}
