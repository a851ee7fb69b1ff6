//! The approval page in a real browser: Debian's headless Chromium driven over WebDriver
//! (chromedriver; `scripts/bootstrap.sh browser` installs both), at a phone's width. A person opens
//! the emailed link, sees the stack, who asked and each unsafe change with its reason, and decides;
//! the workflow goes on. With `STACKGATE_SCREENSHOTS=<dir>` the page is saved there as PNG
//! (docs/images/ holds the committed ones: `scripts/screenshots.sh`).

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use hyper::Method;
use serde_json::{json, Value};
use stackgate_local::http::call;
use stackgate_local::unique_name as unique;
use stackgate_local::{endpoint, LocalClients};

use crate::common::{approval_link, execution_status, finish, start};

/// A phone's viewport (CSS pixels).
const PHONE: (u32, u32) = (390, 844);
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";
/// Who asked, as the API or the CodePipeline trigger records it.
const CALLER: &str = "codepipeline job 7f3c2a9e-app-release";

struct Browser {
    driver: Child,
    base: String,
    session: String,
}

impl Browser {
    /// A headless Chromium at a phone's width. (WebDriver itself needs scripts on: the page shows
    /// it needs none by having none, `assert_shows_the_change`.)
    async fn start() -> Browser {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        // Its log says what went wrong when a session does not start or a page does not load.
        let log = std::env::temp_dir().join(format!("chromedriver-{port}.log"));
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .arg(format!("--log-path={}", log.display()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver (scripts/bootstrap.sh browser installs it)");
        let base = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        loop {
            if let Ok((200, body)) = call(Method::GET, &format!("{base}/status"), None).await {
                let status: Value = serde_json::from_slice(&body).unwrap_or_default();
                if status["value"]["ready"] == true {
                    break;
                }
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "chromedriver did not start"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let args = [
            "--headless=new".to_string(),
            "--no-sandbox".to_string(),
            "--disable-dev-shm-usage".to_string(),
            "--disable-gpu".to_string(),
            format!("--window-size={},{}", PHONE.0, PHONE.1),
        ];
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": "/usr/bin/chromium", "args": args,
                                   "mobileEmulation": {"deviceMetrics": {"width": PHONE.0, "height": PHONE.1, "pixelRatio": 2.0}}}
        }}});
        let mut browser = Browser {
            driver,
            base,
            session: String::new(),
        };
        let created = browser
            .command(Method::POST, "/session", Some(capabilities))
            .await;
        browser.session = created["sessionId"]
            .as_str()
            .expect("a session")
            .to_string();
        browser
    }

    async fn command(&self, method: Method, path: &str, body: Option<Value>) -> Value {
        let (status, answer) = tokio::time::timeout(
            Duration::from_secs(90),
            call(
                method,
                &format!("{}{path}", self.base),
                body.map(|b| b.to_string()),
            ),
        )
        .await
        .unwrap_or_else(|_| {
            panic!("WebDriver {path}: no answer in 90 s (its log is in the temp dir)")
        })
        .unwrap();
        let answer: Value = serde_json::from_slice(&answer).unwrap();
        assert_eq!(status, 200, "WebDriver {path}: {answer}");
        answer["value"].clone()
    }

    async fn session(&self, method: Method, path: &str, body: Option<Value>) -> Value {
        let path = format!("/session/{}{path}", self.session);
        self.command(method, &path, body).await
    }

    async fn open(&self, url: &str) {
        self.session(Method::POST, "/url", Some(json!({ "url": url })))
            .await;
    }

    /// The element a CSS selector names, if the page has one.
    async fn find(&self, css: &str) -> Option<String> {
        let (status, answer) = call(
            Method::POST,
            &format!("{}/session/{}/elements", self.base, self.session),
            Some(json!({"using": "css selector", "value": css}).to_string()),
        )
        .await
        .unwrap();
        assert_eq!(status, 200);
        let answer: Value = serde_json::from_slice(&answer).unwrap();
        answer["value"][0][ELEMENT].as_str().map(str::to_string)
    }

    /// The page's text as a person reads it.
    async fn text(&self) -> String {
        self.try_text().await.expect("the page's text")
    }

    /// The text, or `None` while the page is being replaced (a form's answer loading).
    async fn try_text(&self) -> Option<String> {
        let body = self.find("body").await?;
        let (status, answer) = call(
            Method::GET,
            &format!("{}/session/{}/element/{body}/text", self.base, self.session),
            None,
        )
        .await
        .ok()?;
        let answer: Value = serde_json::from_slice(&answer).ok()?;
        (status == 200).then(|| answer["value"].as_str().unwrap_or_default().to_string())
    }

    async fn click(&self, css: &str) {
        let element = self
            .find(css)
            .await
            .unwrap_or_else(|| panic!("no {css} on the page"));
        self.session(
            Method::POST,
            &format!("/element/{element}/click"),
            Some(json!({})),
        )
        .await;
    }

    async fn script(&self, script: &str) -> Value {
        self.session(
            Method::POST,
            "/execute/sync",
            Some(json!({"script": script, "args": []})),
        )
        .await
    }

    /// Saves the page as `<STACKGATE_SCREENSHOTS>/<name>.png`, when that is set.
    async fn screenshot(&self, name: &str) {
        let Ok(dir) = std::env::var("STACKGATE_SCREENSHOTS") else {
            return;
        };
        let png = self.session(Method::GET, "/screenshot", None).await;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(png.as_str().unwrap())
            .unwrap();
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            std::path::Path::new(&dir).join(format!("{name}.png")),
            bytes,
        )
        .unwrap();
    }

    /// Waits until the page's text says `what` (the decision's POST answered).
    async fn until_text(&self, what: &str) -> String {
        let started = Instant::now();
        loop {
            let text = self.try_text().await.unwrap_or_default();
            if text.contains(what) || started.elapsed() > Duration::from_secs(30) {
                return text;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Quits Chromium (killing its driver alone would leave the browser running), even when the
        // test panicked: a plain blocking request, as drop cannot await.
        use std::io::{Read, Write};
        let address = self.base.trim_start_matches("http://").to_string();
        if let Ok(mut stream) = std::net::TcpStream::connect(&address) {
            let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
            let _ = write!(
                stream,
                "DELETE /session/{} HTTP/1.1\r\nHost: {address}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                self.session
            );
            let _ = stream.read_to_end(&mut Vec::new());
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// A stack created with app-v1, then an unsafe update (app-v3 removes EventsTopic) waiting for a
/// person: the execution and the emailed link.
async fn waiting_for_a_person(clients: &LocalClients, prefix: &str) -> (String, String, String) {
    let stack = unique(prefix);
    let full = format!("e2e-{stack}");
    let created = finish(
        clients,
        &start(clients, &stack, "app-v1.yaml", json!({})).await,
    )
    .await;
    assert_eq!(created.outcome(), Some("CREATED"), "{created:?}");
    let waiting = start(
        clients,
        &stack,
        "app-v3-unsafe.yaml",
        json!({"onUnsafe": "approve", "requestedBy": CALLER}),
    )
    .await;
    let link = approval_link(&full).await;
    (full, waiting, link)
}

/// What the page must show before anyone decides: the stack, who asked, each unsafe change with its
/// reason, and both buttons; a page that rendered without its content fails here.
fn assert_shows_the_change(text: &str, full: &str) {
    let caller = format!("Requested by {CALLER}");
    for wanted in [
        full,
        "1 of 2 changes are unsafe",
        "- EventsTopic (AWS::SNS::Topic): removes AWS::SNS::Topic EventsTopic",
        "data lost",
        caller.as_str(),
        "Deciding as",
    ] {
        assert!(
            text.contains(wanted),
            "the page does not show {wanted:?}:\n{text}"
        );
    }
}

/// The page works without JavaScript because it has none: no script element, and its CSP
/// (`default-src 'none'`) would refuse one; deciding is a plain form POST.
async fn assert_no_script(browser: &Browser) {
    assert!(
        browser.find("script").await.is_none(),
        "the page has a script"
    );
    assert!(
        browser.find("form[method=post]").await.is_some(),
        "no form to decide with"
    );
}

#[tokio::test]
#[ignore = "needs the local stack: scripts/local-stack.sh up"]
async fn a_person_approves_on_the_page_and_the_deployment_goes_on() {
    let clients = LocalClients::connect(&endpoint()).await;
    let (full, waiting, link) = waiting_for_a_person(&clients, "browser").await;
    let browser = Browser::start().await;
    browser.open(&link).await;
    let text = browser.text().await;
    assert_shows_the_change(&text, &full);
    assert_no_script(&browser).await;
    assert!(
        browser.find("button[value=approve]").await.is_some(),
        "no Approve button:\n{text}"
    );
    assert!(
        browser.find("button[value=reject]").await.is_some(),
        "no Reject button:\n{text}"
    );
    browser.screenshot("approval-page").await;
    assert_eq!(
        execution_status(&clients, &waiting).await,
        "RUNNING",
        "opening decides nothing"
    );

    browser.click("button[value=approve]").await;
    let decided = browser.until_text("Approved by").await;
    assert!(decided.contains("The workflow continues"), "{decided}");
    browser.screenshot("approval-page-approved").await;
    let report = finish(&clients, &waiting).await;
    assert_eq!(report.outcome(), Some("UPDATED"), "{report:?}");
}

#[tokio::test]
#[ignore = "needs the local stack: scripts/local-stack.sh up"]
async fn a_person_rejects_on_a_phone_sized_page_and_nothing_is_deployed() {
    let clients = LocalClients::connect(&endpoint()).await;
    let (full, waiting, link) = waiting_for_a_person(&clients, "browserno").await;
    let browser = Browser::start().await;
    browser.open(&link).await;
    assert_shows_the_change(&browser.text().await, &full);
    // Reads on a phone: nothing wider than the screen (the summary wraps, the form fits).
    let widths = browser
        .script("return [document.documentElement.scrollWidth, window.innerWidth]")
        .await;
    let (page, screen) = (widths[0].as_u64().unwrap(), widths[1].as_u64().unwrap());
    assert!(
        page <= screen,
        "the page is {page} px wide on a {screen} px screen"
    );

    browser.click("button[value=reject]").await;
    let decided = browser.until_text("Rejected by").await;
    assert!(decided.contains("The workflow stops"), "{decided}");
    let report = finish(&clients, &waiting).await;
    assert_eq!(
        report.error.as_deref(),
        Some("ChangeSetRejected"),
        "{report:?}"
    );
}
