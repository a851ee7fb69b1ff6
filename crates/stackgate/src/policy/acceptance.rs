//! Who may accept that a change loses data, where the operator lets them: the request or the
//! template's own `Metadata`; never for a whole stack or what the operator protects.

use super::{ResourceChange, Rules};

pub(super) const NESTED_STACK: &str = "AWS::CloudFormation::Stack";

/// Resources that are whole stacks: removing or replacing one removes everything in it.
const CONTAINERS: &[&str] = &[
    NESTED_STACK,
    "AWS::ServiceCatalog::CloudFormationProvisionedProduct",
];

/// How a change may lose a resource's data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Loss {
    Removal,
    Replacement,
    /// Decided at execution (`Dynamic`): either.
    Either,
    /// An update in place that expires data (`in_place`): only the request may accept it, naming
    /// the resource; the template has no word for it.
    InPlace,
}

/// Who accepted that this removal or replacement loses data, where the operator lets them and
/// did not protect the resource: the request (`allowDataLoss`), or the template's own `Metadata`
/// (`allowReplace` in the change set's template for a replacement, `allowRemove` in the current
/// one for a removal: the template that still holds the resource; both for a `Dynamic` change).
/// Resources in nested stacks are accepted only by the request, by their `Parent/Child` id.
pub(super) fn accepted_by(
    change: &ResourceChange,
    id: &str,
    rules: &Rules,
    loss: Loss,
) -> Option<&'static str> {
    let intent = rules.stateful.intent;
    // What a stack holds is not judged resource by resource: its loss may take protected data.
    if CONTAINERS.contains(&change.resource_type.as_str())
        || rules
            .stateful
            .operator_protects(rules.stack, id, &change.resource_type)
    {
        return None;
    }
    if intent.request && rules.allow_data_loss.iter().any(|a| a == id) {
        return Some("the request (allowDataLoss)");
    }
    if !intent.template || !change.nested_path.is_empty() {
        return None;
    }
    let replace = rules.next_policies.get(id).is_some_and(|p| p.allow_replace);
    let remove = rules.policies.get(id).is_some_and(|p| p.allow_remove);
    match loss {
        Loss::Replacement if replace => Some("the template (Metadata stackgate.allowReplace)"),
        Loss::Removal if remove => Some("the template (Metadata stackgate.allowRemove)"),
        Loss::Either if replace && remove => {
            Some("the template (Metadata stackgate.allowReplace and allowRemove)")
        }
        _ => None,
    }
}

pub(super) fn qualified_id(change: &ResourceChange) -> String {
    let mut parts = change.nested_path.clone();
    parts.push(change.logical_resource_id.clone());
    parts.join("/")
}
