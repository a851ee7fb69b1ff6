//! What a sample names, read from its event: the stacks it reads, deletes or waits for, its
//! template's URL, the revision it checks out, the rules it switches.

use std::path::Path;

use serde_json::Value;

/// Whether the sample shows the API refusing a stack stackgate did not make: its stack must stay
/// unstaged.
pub fn shows_an_unmanaged_stack(file: &Path) -> bool {
    file.ends_with("stacks-api/get-stack-unmanaged.json")
}

/// Where a template URL of the local stack points: bucket and key (`http://host/bucket/key`).
pub fn template_location(url: &str) -> Option<(&str, &str)> {
    let (_, rest) = url.split_once("://")?;
    let (_, path) = rest.split_once('/')?;
    let (bucket, key) = path.split_once('/')?;
    (!bucket.is_empty() && !key.is_empty()).then_some((bucket, key))
}

/// The template URL a sample names: a plan task's request, or an API request's body.
pub fn template_url(event: &Value) -> Option<String> {
    if let Some(url) = event
        .pointer("/request/templateUrl")
        .and_then(Value::as_str)
    {
        return Some(url.to_string());
    }
    let body: Value = serde_json::from_str(event.get("body")?.as_str()?).ok()?;
    ["templateUrl", "templateurl"]
        .iter()
        .find_map(|field| body.get(field).and_then(Value::as_str))
        .map(str::to_string)
}

/// The stack a `{"stackId", "operation": "DEPLOY", …}` wait is for: the name in its ARN.
pub fn waited_deploy(event: &Value) -> Option<String> {
    (event.get("operation").and_then(Value::as_str) == Some("DEPLOY"))
        .then(|| event.get("stackId")?.as_str()?.split('/').nth(1))
        .flatten()
        .filter(|name| !name.is_empty())
        .map(str::to_string)
}

/// The stack an API read (`GET /stacks/{name}`) is for.
pub fn read_stack(event: &Value) -> Option<String> {
    (event.get("httpMethod").and_then(Value::as_str) == Some("GET")
        && event.get("resource").and_then(Value::as_str) == Some("/stacks/{name}"))
    .then(|| {
        event
            .pointer("/pathParameters/name")
            .and_then(Value::as_str)
    })
    .flatten()
    .map(str::to_string)
}

/// The stacks an API sample reads, deletes or deploys by name (`/stacks/{name}`, `/state/{stackname}`,
/// the compat route's body), and the stack a wait is for.
pub fn stacks_named(event: &Value) -> Vec<String> {
    let mut stacks: Vec<String> = waited_deploy(event).into_iter().collect();
    let resource = event.get("resource").and_then(Value::as_str);
    let parameter = match resource {
        Some("/stacks/{name}") => Some("/pathParameters/name"),
        Some("/state/{stackname}") => Some("/pathParameters/stackname"),
        _ => None,
    };
    if let Some(stack) = parameter.and_then(|p| event.pointer(p)?.as_str()) {
        stacks.push(stack.to_string());
    }
    let body = event
        .get("body")
        .and_then(Value::as_str)
        .and_then(|b| serde_json::from_str::<Value>(b).ok());
    if let Some(stack) = body.as_ref().and_then(|b| b.get("stackname")?.as_str()) {
        stacks.push(stack.to_string());
    }
    stacks
}

/// The EventBridge rules a maintenance-mode sample switches off or back on.
pub(super) fn rules_named(event: &Value) -> Vec<String> {
    ["ruleNames", "rules"]
        .iter()
        .filter_map(|field| event.get(field)?.as_array())
        .flatten()
        .filter_map(|name| name.as_str().map(str::to_string))
        .collect()
}

/// The revision a plan task checks out (`revisionS3Bucket`/`revisionS3Key` of its request).
pub(super) fn revision(event: &Value) -> Option<(String, String)> {
    let request = event.get("request")?;
    Some((
        request.get("revisionS3Bucket")?.as_str()?.to_string(),
        request.get("revisionS3Key")?.as_str()?.to_string(),
    ))
}
