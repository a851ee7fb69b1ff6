//! Which S3 object a template URL names, read the way S3 reads it. A URL is accepted only in a form
//! whose bucket is certain: canonical (what a URL parser would write back), https, no user
//! information, port, query, fragment, dot segments or percent-encoded separators, and a host that is
//! one of S3's own endpoints matched from the right (or a host the operator configured for
//! path-style addressing, such as the local stack's S3).

/// The bucket and key a URL points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Object {
    pub bucket: String,
    pub key: String,
}

/// Longest URL read (CloudFormation's own limit for `TemplateURL`).
pub const MAX_URL_LENGTH: usize = 5120;

/// Reads `raw` as an S3 object URL. The error says which rule the URL breaks, never the URL itself.
pub fn parse(raw: &str, path_style_hosts: &[String]) -> Result<S3Object, &'static str> {
    if raw.len() > MAX_URL_LENGTH {
        return Err("is longer than 5120 characters");
    }
    if raw
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || c == '\\')
    {
        return Err("must not contain spaces, control characters or backslashes");
    }
    let lower = raw.to_ascii_lowercase();
    if ["%2f", "%5c", "%2e", "%00"]
        .iter()
        .any(|p| lower.contains(p))
    {
        return Err("must not percent-encode '/', '\\', '.' or NUL");
    }
    let url = url::Url::parse(raw).map_err(|_| "is not a valid URL")?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not carry user information (user@host)");
    }
    if url.query().is_some() {
        return Err("must not have a query ('?')");
    }
    if url.fragment().is_some() {
        return Err("must not have a fragment ('#')");
    }
    // The parser resolves dot segments, lower-cases the host and drops a default port: a URL that
    // does not read back the same says one thing to people and another to S3.
    if url.as_str() != raw {
        return Err("must be written in canonical form (lower-case host, no default port, no '.' or '..' segments)");
    }
    let host = url.host_str().unwrap_or_default();
    let authority = match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_string(),
    };
    let path = url.path().strip_prefix('/').unwrap_or_default();
    if path_style_hosts
        .iter()
        .any(|h| h.eq_ignore_ascii_case(&authority))
    {
        if !matches!(url.scheme(), "https" | "http") {
            return Err("must be an http(s) URL");
        }
        return path_style(path);
    }
    if url.scheme() != "https" {
        return Err("must be an https URL");
    }
    if url.port().is_some() {
        return Err("must not name a port");
    }
    match aws_endpoint(host) {
        Some(Endpoint::PathStyle) => path_style(path),
        Some(Endpoint::VirtualHosted(bucket)) => object(bucket, path),
        None => Err("must be an S3 URL (https://<bucket>.s3.<region>.amazonaws.com/<key> or https://s3.<region>.amazonaws.com/<bucket>/<key>)"),
    }
}

fn path_style(path: &str) -> Result<S3Object, &'static str> {
    let (bucket, key) = path.split_once('/').ok_or("must name a bucket and a key")?;
    object(bucket, key)
}

fn object(bucket: &str, encoded_key: &str) -> Result<S3Object, &'static str> {
    if !valid_bucket_name(bucket) {
        return Err("names no valid bucket");
    }
    if encoded_key.is_empty() {
        return Err("must name an object key");
    }
    let key = percent_encoding::percent_decode_str(encoded_key)
        .decode_utf8()
        .map_err(|_| "must name a UTF-8 object key")?;
    Ok(S3Object {
        bucket: bucket.to_string(),
        key: key.into_owned(),
    })
}

enum Endpoint<'a> {
    PathStyle,
    VirtualHosted(&'a str),
}

/// S3's endpoints, matched from the right: `s3`, `s3.<region>`, `s3-<region>` and
/// `s3.dualstack.<region>` under `amazonaws.com` (and `amazonaws.com.cn`); a virtual-hosted URL is
/// `<bucket>.` before one of them. Anything else (access points, website endpoints, look-alikes such
/// as `s3-evil` or `bucket.s3.evil.s3`) is not recognised, or resolves to the bucket S3 would read.
fn aws_endpoint(host: &str) -> Option<Endpoint<'_>> {
    let rest = host
        .strip_suffix(".amazonaws.com")
        .or_else(|| host.strip_suffix(".amazonaws.com.cn"))?;
    if is_s3_endpoint(rest) {
        return Some(Endpoint::PathStyle);
    }
    // The endpoint forms hold no ".s3" after their start, so at most one split can match.
    let mut found = rest
        .match_indices(".s3")
        .map(|(at, _)| (&rest[..at], &rest[at + 1..]))
        .filter(|(bucket, endpoint)| is_s3_endpoint(endpoint) && valid_bucket_name(bucket));
    let (bucket, _) = found.next()?;
    found
        .next()
        .is_none()
        .then_some(Endpoint::VirtualHosted(bucket))
}

fn is_s3_endpoint(name: &str) -> bool {
    name == "s3"
        || ["s3.dualstack.", "s3.", "s3-"]
            .iter()
            .any(|prefix| name.strip_prefix(prefix).is_some_and(is_region))
}

/// `us-east-1`, `eu-central-2`, `us-gov-west-1`, `cn-north-1`: two letters, words, a number.
fn is_region(name: &str) -> bool {
    let parts: Vec<&str> = name.split('-').collect();
    parts.len() >= 3
        && parts[0].len() == 2
        && parts[0].bytes().all(|b| b.is_ascii_lowercase())
        && parts[1..parts.len() - 1]
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
        && parts[parts.len() - 1].len() <= 2
        && !parts[parts.len() - 1].is_empty()
        && parts[parts.len() - 1].bytes().all(|b| b.is_ascii_digit())
}

/// S3's naming rules for general purpose buckets: 3 to 63 lower-case letters, digits, dots and
/// hyphens, starting and ending with a letter or digit, no two dots together.
pub fn valid_bucket_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    (3..=63).contains(&bytes.len())
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'.' || *b == b'-')
        && bytes[0].is_ascii_alphanumeric()
        && bytes[bytes.len() - 1].is_ascii_alphanumeric()
        && !name.contains("..")
        && !name.contains(".-")
        && !name.contains("-.")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local() -> Vec<String> {
        vec!["localhost:4566".into(), "127.0.0.1:4566".into()]
    }

    fn bucket_of(url: &str) -> Result<String, &'static str> {
        parse(url, &local()).map(|o| o.bucket)
    }

    #[test]
    fn every_s3_form_names_its_bucket_and_key() {
        let cases = [
            (
                "https://templates.s3.amazonaws.com/app.yaml",
                "templates",
                "app.yaml",
            ),
            (
                "https://templates.s3.eu-west-1.amazonaws.com/a/b.yaml",
                "templates",
                "a/b.yaml",
            ),
            (
                "https://templates.s3-eu-west-1.amazonaws.com/a.yaml",
                "templates",
                "a.yaml",
            ),
            (
                "https://templates.s3.dualstack.us-east-1.amazonaws.com/a.yaml",
                "templates",
                "a.yaml",
            ),
            (
                "https://my.templates.s3.us-gov-west-1.amazonaws.com/a.yaml",
                "my.templates",
                "a.yaml",
            ),
            (
                "https://templates.s3.cn-north-1.amazonaws.com.cn/a.yaml",
                "templates",
                "a.yaml",
            ),
            (
                "https://s3.amazonaws.com/templates/app.yaml",
                "templates",
                "app.yaml",
            ),
            (
                "https://s3.eu-west-1.amazonaws.com/templates/app.yaml",
                "templates",
                "app.yaml",
            ),
            (
                "https://s3-eu-west-1.amazonaws.com/templates/app.yaml",
                "templates",
                "app.yaml",
            ),
            (
                "https://s3.dualstack.eu-west-1.amazonaws.com/templates/x/y.yaml",
                "templates",
                "x/y.yaml",
            ),
            (
                "https://templates.s3.amazonaws.com/a%20b.yaml",
                "templates",
                "a b.yaml",
            ),
            (
                "http://localhost:4566/templates/app.yaml",
                "templates",
                "app.yaml",
            ),
        ];
        for (url, bucket, key) in cases {
            let object = parse(url, &local()).unwrap_or_else(|e| panic!("{url}: {e}"));
            assert_eq!(
                (object.bucket.as_str(), object.key.as_str()),
                (bucket, key),
                "{url}"
            );
        }
    }

    /// The URLs that got past the old prefix-guessing check: each names the bucket S3 would read,
    /// or is refused.
    #[test]
    fn look_alikes_resolve_to_the_bucket_s3_reads() {
        let cases = [
            ("https://s3-attacker.s3.amazonaws.com/stackgate-local-artifacts/evil.yaml", "s3-attacker"),
            ("https://stackgate-local-artifacts.s3-evil.s3.amazonaws.com/evil.yaml", "stackgate-local-artifacts.s3-evil"),
            ("https://stackgate-local-artifacts.s3.evil.s3.us-east-1.amazonaws.com/evil.yaml", "stackgate-local-artifacts.s3.evil"),
            ("https://s3.attacker.s3.us-east-1.amazonaws.com/stackgate-local-artifacts/evil.yaml", "s3.attacker"),
        ];
        for (url, bucket) in cases {
            assert_eq!(bucket_of(url).as_deref(), Ok(bucket), "{url}");
        }
    }

    #[test]
    fn ambiguous_forms_are_refused() {
        for url in [
            "https://stackgate-local-artifacts.s3.x@s3-attacker.s3.amazonaws.com/evil.yaml",
            "https://user:pw@s3.amazonaws.com/templates/a.yaml",
            "https://s3.amazonaws.com/templates/a.yaml?x=1",
            "https://s3.amazonaws.com/templates/a.yaml?",
            "https://s3.amazonaws.com/templates/a.yaml#frag",
            "https://s3.amazonaws.com/templates/../attacker/evil.yaml",
            "https://s3.amazonaws.com/templates/./a.yaml",
            "https://s3.amazonaws.com/attacker/%2e%2e/templates/a.yaml",
            "https://s3.amazonaws.com/templates%2fa.yaml",
            "https://s3.amazonaws.com/templates/a%5cb.yaml",
            "https://s3.amazonaws.com\\templates/a.yaml",
            "https://s3.amazonaws.com:443/templates/a.yaml",
            "https://s3.amazonaws.com:8443/templates/a.yaml",
            "https://TEMPLATES.s3.amazonaws.com/a.yaml",
            "http://templates.s3.amazonaws.com/app.yaml",
            "https://evil.example.com/templates/app.yaml",
            "https://templates.s3.amazonaws.com.evil.com/app.yaml",
            "https://templates.s3-website-us-east-1.amazonaws.com/a.yaml",
            "https://templates.s3-accesspoint.us-east-1.amazonaws.com/a.yaml",
            "https://templates.s3.amazonaws.com/",
            "https://s3.amazonaws.com/templates",
            "https://s3.amazonaws.com/templates/",
            "https://s3.amazonaws.com/Te/a.yaml",
            "ftp://templates/app.yaml",
            "https://s3.amazonaws.com/templates/a b.yaml",
            "http://localhost:4567/templates/app.yaml",
            "https://1.2.3.4/templates/app.yaml",
            "",
            "templates/app.yaml",
        ] {
            assert!(bucket_of(url).is_err(), "{url} -> {:?}", bucket_of(url));
        }
        assert!(parse(
            &format!("https://s3.amazonaws.com/t/{}", "a".repeat(6000)),
            &[]
        )
        .is_err());
    }

    #[test]
    fn refusals_never_echo_the_url() {
        let url = "https://secret-token-123@s3.amazonaws.com/templates/a.yaml";
        assert!(!parse(url, &[]).unwrap_err().contains("secret-token-123"));
    }

    #[test]
    fn regions_and_bucket_names() {
        for region in [
            "us-east-1",
            "eu-central-2",
            "us-gov-west-1",
            "ap-southeast-4",
            "cn-north-1",
        ] {
            assert!(is_region(region), "{region}");
        }
        for not in [
            "evil",
            "us-east",
            "us-east-1a",
            "US-east-1",
            "u-east-1",
            "us--1",
            "attacker.s3",
        ] {
            assert!(!is_region(not), "{not}");
        }
        for name in ["abc", "my.bucket-1", "a".repeat(63).as_str()] {
            assert!(valid_bucket_name(name), "{name}");
        }
        for name in [
            "ab",
            "Abc",
            "a..b",
            "-ab",
            "ab-",
            "a_b",
            "a.-b",
            &"a".repeat(64),
        ] {
            assert!(!valid_bucket_name(name), "{name}");
        }
    }
}
