//! The rules of the request's single fields that need more than a type: ids of plans, releases and
//! approvals, logical ids, the approval timeout, the blue/green stack's name, who asked, and
//! secret parameter names.

use super::{
    default_blue_green_suffix, not_recorded, release, OnUnsafe, StackName, MAX_PARAMETERS,
    MAX_REQUESTED_BY, MAX_STACK_NAME,
};
use crate::TaskError;

/// `planExpiresAt`: an RFC 3339 time, written back in UTC to the second (what the workflow's Wait
/// state reads).
pub(super) fn plan_expiry(given: Option<String>) -> Result<Option<String>, TaskError> {
    use aws_smithy_types::date_time::{DateTime, Format};
    let Some(given) = given else {
        return Ok(None);
    };
    let at = DateTime::from_str(&given, Format::DateTime)
        .map_err(|_| TaskError::invalid("planExpiresAt", "must be an RFC 3339 time"))?;
    Ok(Some(crate::approval::timestamp(at.secs().max(0) as u64)))
}

/// A plan's id: the execution id of the safe-deploy execution that made it (`deploy-…`).
pub fn plan_id(field: &str, given: Option<String>) -> Result<Option<String>, TaskError> {
    match given {
        None => Ok(None),
        Some(id) if is_plan_id(&id) => Ok(Some(id)),
        Some(_) => Err(TaskError::invalid(
            field,
            "must be a plan id as POST /plans answered it (deploy-…)",
        )),
    }
}

/// `releaseApproval`: an approval's id (32 lowercase hex digits, as `approval::approval_id` makes).
pub(super) fn approval_ref(given: Option<String>) -> Result<Option<String>, TaskError> {
    match given {
        None => Ok(None),
        Some(id)
            if id.len() == 32
                && id
                    .chars()
                    .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c)) =>
        {
            Ok(Some(id))
        }
        Some(_) => Err(TaskError::invalid(
            "releaseApproval",
            "must be an approval id as the release's approval answered it",
        )),
    }
}

/// `releasePlan`: a release's execution id (`release-…`).
pub(super) fn release_id(given: Option<String>) -> Result<Option<String>, TaskError> {
    match given {
        None => Ok(None),
        Some(id) if release::is_release_id(&id) => Ok(Some(id)),
        Some(_) => Err(TaskError::invalid(
            "releasePlan",
            "must be a release id as POST /releases answered it (release-…)",
        )),
    }
}

/// Whether `id` can name a plan: a safe-deploy execution name.
pub fn is_plan_id(id: &str) -> bool {
    id.len() <= 80
        && id.strip_prefix("deploy-").is_some_and(|rest| {
            !rest.is_empty()
                && rest
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        })
}

const MAX_ALLOWED_DATA_LOSS: usize = 100;

/// Logical ids as CloudFormation writes them (letters and digits, at most 255), `/` between a
/// nested stack and what is in it; repeated ones counted once.
pub(super) fn logical_ids(field: &str, ids: Option<Vec<String>>) -> Result<Vec<String>, TaskError> {
    let ids = ids.unwrap_or_default();
    if ids.len() > MAX_ALLOWED_DATA_LOSS {
        return Err(TaskError::invalid(
            field,
            format!("holds more than {MAX_ALLOWED_DATA_LOSS} logical ids"),
        ));
    }
    let mut checked: Vec<String> = Vec::new();
    for (at, id) in ids.into_iter().enumerate() {
        let valid = id.split('/').all(|part| {
            !part.is_empty() && part.len() <= 255 && part.chars().all(|c| c.is_ascii_alphanumeric())
        });
        if !valid {
            return Err(TaskError::invalid(
                format!("{field}[{at}]"),
                "must be a logical id (letters and digits, at most 255), with `/` after a nested stack's",
            ));
        }
        if !checked.contains(&id) {
            checked.push(id);
        }
    }
    Ok(checked)
}

pub(super) fn approval_timeout(seconds: Option<u64>) -> Result<u64, TaskError> {
    const RANGE: std::ops::RangeInclusive<u64> = 60..=604_800;
    match seconds {
        None => Ok(crate::approval::DEFAULT_TIMEOUT_SECONDS),
        Some(seconds) if RANGE.contains(&seconds) => Ok(seconds),
        Some(_) => Err(TaskError::invalid(
            "approvalTimeoutSeconds",
            "must be a whole number of seconds from 60 to 604800 (7 days)",
        )),
    }
}

/// The blue/green stack's name. Its length only matters when blue/green is asked for; then the error
/// names the real constraint (the stack name leaves no room for the suffix).
pub(super) fn blue_green_stack_name(
    given: Option<String>,
    stack_name: &StackName,
    on_unsafe: OnUnsafe,
    execution_name: &str,
) -> Result<StackName, TaskError> {
    const FIELD: &str = "blueGreenSuffix";
    if let Some(suffix) = &given {
        if !suffix
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-')
        {
            return Err(TaskError::invalid(
                FIELD,
                "may hold only letters, digits and hyphens",
            ));
        }
    }
    let suffix = given
        .clone()
        .unwrap_or_else(|| default_blue_green_suffix(execution_name));
    let name = format!("{stack_name}-{suffix}");
    if name.len() > MAX_STACK_NAME {
        if on_unsafe != OnUnsafe::BlueGreen {
            // Never used: the stack exists only for blue/green. The stack name is cut, not the
            // suffix, so that it never becomes the stack's own name.
            let kept = MAX_STACK_NAME.saturating_sub(suffix.len() + 1);
            let cut = format!("{}-{suffix}", stack_name[..kept].trim_end_matches('-'));
            return StackName::parse(cut).map_err(|message| TaskError::invalid(FIELD, message));
        }
        let room = MAX_STACK_NAME.saturating_sub(suffix.len() + 1);
        return Err(if given.is_some() {
            TaskError::invalid(
                FIELD,
                format!("is too long for this stack: the blue/green stack's name ({} characters) would pass CloudFormation's {MAX_STACK_NAME}", name.len()),
            )
        } else {
            TaskError::invalid(
                "stackName",
                format!("with onUnsafe \"blueGreen\" the full stack name may be at most {room} characters (got {}): the blue/green stack adds \"-{suffix}\"", stack_name.len()),
            )
        });
    }
    StackName::parse(name).map_err(|message| TaskError::invalid(FIELD, message))
}

pub(super) fn requested_by(who: Option<String>) -> Result<String, TaskError> {
    match who {
        Some(who) if who.len() > MAX_REQUESTED_BY || who.chars().any(char::is_control) => {
            Err(TaskError::invalid(
                "requestedBy",
                format!("must be at most {MAX_REQUESTED_BY} printable characters"),
            ))
        }
        Some(who) => Ok(who),
        None => Ok(not_recorded()),
    }
}

pub(super) fn secret_names(names: Option<Vec<String>>) -> Result<Vec<String>, TaskError> {
    const FIELD: &str = "secretParameters";
    let names = names.unwrap_or_default();
    if names.len() > MAX_PARAMETERS {
        return Err(TaskError::invalid(
            FIELD,
            format!("holds more than {MAX_PARAMETERS} names"),
        ));
    }
    names
        .into_iter()
        .map(|name| match name.trim() {
            "" => Err(TaskError::invalid(FIELD, "entries must be parameter names")),
            name => Ok(name.to_string()),
        })
        .collect()
}
