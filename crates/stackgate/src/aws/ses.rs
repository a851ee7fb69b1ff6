//! SES v2 adapter: sending the approval email.

use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message};
use aws_sdk_sesv2::Client;

use super::classify;
use crate::approval::Email;
use crate::TaskError;

fn content(text: &str) -> Result<Content, TaskError> {
    Content::builder()
        .data(text)
        .charset("UTF-8")
        .build()
        .map_err(|e| TaskError::invalid("email", e.to_string()))
}

pub async fn send_email(
    client: &Client,
    from: &str,
    to: &[String],
    email: &Email,
) -> Result<String, TaskError> {
    let message = Message::builder()
        .subject(content(&email.subject)?)
        .body(
            Body::builder()
                .text(content(&email.text)?)
                .html(content(&email.html)?)
                .build(),
        )
        .build();
    let output = client
        .send_email()
        .from_email_address(from)
        .destination(
            Destination::builder()
                .set_to_addresses(Some(to.to_vec()))
                .build(),
        )
        .content(EmailContent::builder().simple(message).build())
        .send()
        .await
        .map_err(|e| classify("SendEmail", &e))?;
    Ok(output.message_id().unwrap_or_default().to_string())
}
