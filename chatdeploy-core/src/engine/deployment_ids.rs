//! chatdeploy's own release IDs.

use uuid::Uuid;

use crate::ids::{DeploymentId, EventId};

const DEPLOYMENT_NAMESPACE: Uuid = Uuid::from_u128(0x0c7a_61d2_55e4_4a8e_a1f3_2b9d_6e40_7d12);

/// The release ID for a release asked for by `source`: derived from the
/// event, so a redelivery finds the release it already created instead of
/// creating a second one. Short enough to type (`d-` and 10 hex digits).
pub fn deployment_id_for(source: &EventId) -> DeploymentId {
    let uuid = Uuid::new_v5(&DEPLOYMENT_NAMESPACE, source.as_str().as_bytes());
    let hex = uuid.simple().to_string();
    DeploymentId::new(format!("d-{}", &hex[..10]))
}

/// Whether `text` looks like a release ID (so `approve d-…` is not taken
/// for a service name).
pub(crate) fn looks_like_deployment_id(text: &str) -> bool {
    text.len() == 12
        && text.starts_with("d-")
        && text[2..]
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_stable_short_and_recognisable() {
        let id = deployment_id_for(&EventId::new("Ev1"));
        assert_eq!(id, deployment_id_for(&EventId::new("Ev1")));
        assert_ne!(id, deployment_id_for(&EventId::new("Ev2")));
        assert!(looks_like_deployment_id(id.as_str()), "{id}");
        assert!(!looks_like_deployment_id("app"));
        assert!(!looks_like_deployment_id("d-XYZ"));
    }
}
