//! The one HTTPS client of every SDK client (`stackgate::aws::sdk::https_client`) also speaks plain
//! HTTP: the local stack is plain HTTP.

use aws_config::{BehaviorVersion, Region};
use stackgate::aws::sdk::https_client;

#[tokio::test]
async fn the_https_client_also_speaks_plain_http() {
    // The local stack is plain HTTP: the one client must reach it too.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut buffer = [0u8; 4096];
        let _ = socket.read(&mut buffer).await.unwrap();
        let body = r#"{"executions": []}"#;
        let answer = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/x-amz-json-1.0\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        socket.write_all(answer.as_bytes()).await.unwrap();
    });
    let config = aws_sdk_sfn::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(aws_sdk_sfn::config::Credentials::for_tests())
        .endpoint_url(format!("http://{address}"))
        .http_client(https_client())
        .build();
    let answer = aws_sdk_sfn::Client::from_conf(config)
        .list_executions()
        .state_machine_arn("arn:aws:states:us-east-1:123456789012:stateMachine:m")
        .send()
        .await;
    server.await.unwrap();
    assert!(answer.is_ok(), "{answer:?}");
}
