//! Whether a user is among configured principals (users and user groups).

use crate::chat::{ChatError, ChatSurface};
use crate::ids::{GroupId, Principal, UserId};

/// Whether `user` is one of `principals`, resolving user groups through
/// `surface`. Direct user entries are checked first, so a group lookup is
/// only made when it can change the answer.
///
/// # Errors
///
/// The group and the [`ChatError`] when a group's membership cannot be read
/// and no direct entry matched; callers must fail closed.
pub async fn is_member<S: ChatSurface + ?Sized>(
    surface: &S,
    principals: &[Principal],
    user: &UserId,
) -> Result<bool, (GroupId, ChatError)> {
    if principals
        .iter()
        .any(|p| matches!(p, Principal::User(u) if u == user))
    {
        return Ok(true);
    }
    let mut first_error = None;
    for principal in principals {
        if let Principal::Group(group) = principal {
            match surface.group_members(group).await {
                Ok(members) if members.contains(user) => return Ok(true),
                Ok(_) => {}
                Err(error) => {
                    first_error.get_or_insert((group.clone(), error));
                }
            }
        }
    }
    match first_error {
        Some(error) => Err(error),
        None => Ok(false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::RecordingChatSurface;

    fn principals(ids: &[&str]) -> Vec<Principal> {
        ids.iter()
            .map(|id| match id.strip_prefix("group:") {
                Some(_) => Principal::Group(GroupId::new(*id)),
                None => Principal::User(UserId::new(*id)),
            })
            .collect()
    }

    #[tokio::test]
    async fn users_and_group_members_are_members() {
        let chat = RecordingChatSurface::new().with_group("group:ops", &["U07"]);
        let list = principals(&["U01", "group:ops"]);
        assert!(is_member(&chat, &list, &"U01".into()).await.unwrap());
        assert!(is_member(&chat, &list, &"U07".into()).await.unwrap());
        assert!(!is_member(&chat, &list, &"U99".into()).await.unwrap());
    }

    #[tokio::test]
    async fn unreadable_group_is_an_error_unless_a_direct_entry_matches() {
        let chat = RecordingChatSurface::new();
        let list = principals(&["U01", "group:gone"]);
        assert!(is_member(&chat, &list, &"U01".into()).await.unwrap());
        let (group, _) = is_member(&chat, &list, &"U02".into()).await.unwrap_err();
        assert_eq!(group.as_str(), "group:gone");
    }
}
