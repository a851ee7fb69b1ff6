//! `stack-status`: CloudFormation's Stack Status Change events, delivered by EventBridge. The end of
//! an operation a deployment waits on answers that deployment's task; every other event (a stack
//! nobody waits on, an operation under way, an earlier operation's end) is let go.

use lambda_runtime::LambdaEvent;
use serde_json::{json, Value};

use super::to_output;
use super::wait_stack::{answer_if_ended, Deps};
use crate::aws::dynamodb;
use crate::stack_events;
use crate::TaskError;

pub async fn handle(deps: &Deps, event: LambdaEvent<Value>) -> Result<Value, TaskError> {
    let change = stack_events::parse(event.payload)?;
    let stack_id = change.stack_id.clone();
    let let_go = |reason: &str| {
        to_output(&json!({"stackId": stack_id, "answered": false, "reason": reason}))
    };
    if !change.settled() {
        return let_go("the operation is under way");
    }
    let Some(wait) = dynamodb::read_wait(&deps.dynamodb, &deps.table, &change.stack_id).await?
    else {
        return let_go("no deployment waits on this stack");
    };
    if !change.may_end(&wait) {
        return let_go("the event is another operation's");
    }
    // The stack is read again: the answer carries its outputs, and the read, not the event,
    // decides that the operation has ended.
    let answered = answer_if_ended(deps, &wait, "event").await?;
    to_output(&json!({"stackId": change.stack_id, "answered": answered}))
}
