//! A stand-in for SSM `DescribeInstancePatches`, which moto does not implement: tests (and people)
//! load an instance's patches with `PUT /_local/ssm/instance-patches/<instanceId>` (a JSON array of
//! patches as SSM returns them), and the front door answers the API with them, filtered by state and
//! paginated by `MaxResults`/`NextToken` as SSM does. An instance nothing was loaded for is not a
//! managed instance: `InvalidInstanceId`, as SSM answers.

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde_json::{json, Value};

pub const TARGET: &str = "AmazonSSM.DescribeInstancePatches";
pub const PATH: &str = "/_local/ssm/instance-patches/";
const DEFAULT_PAGE: usize = 50;

#[derive(Debug, Default)]
pub struct PatchStore {
    instances: Mutex<BTreeMap<String, Vec<Value>>>,
}

impl PatchStore {
    pub fn load(&self, instance_id: &str, body: &[u8]) -> Result<usize, String> {
        let patches: Vec<Value> = serde_json::from_slice(body)
            .map_err(|e| format!("expected a JSON array of patches: {e}"))?;
        let count = patches.len();
        self.instances
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(instance_id.to_string(), patches);
        Ok(count)
    }

    /// Answers a DescribeInstancePatches request body.
    pub fn describe(&self, request: &[u8]) -> Result<Value, (u16, &'static str, String)> {
        let request: Value = serde_json::from_slice(request)
            .map_err(|e| (400, "SerializationException", e.to_string()))?;
        let instance = request["InstanceId"].as_str().ok_or((
            400,
            "ValidationException",
            "InstanceId is required".to_string(),
        ))?;
        let states: Vec<&str> = request["Filters"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|f| f["Key"] == "State")
            .flat_map(|f| {
                f["Values"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
            })
            .collect();
        let page = request["MaxResults"]
            .as_u64()
            .map_or(DEFAULT_PAGE, |m| m.clamp(10, 100) as usize);
        let start: usize = match request["NextToken"].as_str() {
            Some(token) => token
                .parse()
                .map_err(|_| (400, "InvalidNextToken", format!("bad NextToken {token:?}")))?,
            None => 0,
        };
        let instances = self.instances.lock().unwrap_or_else(|p| p.into_inner());
        let loaded = instances.get(instance).ok_or((
            400,
            "InvalidInstanceId",
            format!("{instance} is not a managed instance"),
        ))?;
        let matching: Vec<&Value> = loaded
            .iter()
            .filter(|p| {
                states.is_empty() || p["State"].as_str().is_some_and(|s| states.contains(&s))
            })
            .collect();
        let end = (start + page).min(matching.len());
        let mut answer = json!({"Patches": matching.get(start..end).unwrap_or_default()});
        if end < matching.len() {
            answer["NextToken"] = json!(end.to_string());
        }
        Ok(answer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn patches(n: usize) -> Vec<u8> {
        let list: Vec<Value> = (0..n)
            .map(|i| json!({"Title": format!("KB{i}"), "State": if i % 2 == 0 { "Missing" } else { "Installed" }}))
            .collect();
        serde_json::to_vec(&list).unwrap()
    }

    #[test]
    fn filters_and_pages_like_ssm() {
        let store = PatchStore::default();
        assert_eq!(store.load("i-1", &patches(60)).unwrap(), 60);
        let first = store
            .describe(br#"{"InstanceId":"i-1","Filters":[{"Key":"State","Values":["Missing","Failed"]}],"MaxResults":10}"#)
            .unwrap();
        assert_eq!(first["Patches"].as_array().unwrap().len(), 10);
        assert_eq!(first["NextToken"], "10");
        let last = store
            .describe(br#"{"InstanceId":"i-1","Filters":[{"Key":"State","Values":["Missing"]}],"MaxResults":10,"NextToken":"20"}"#)
            .unwrap();
        assert_eq!(last["Patches"].as_array().unwrap().len(), 10);
        assert!(last.get("NextToken").is_none());
        assert_eq!(
            store
                .describe(br#"{"InstanceId":"i-unknown"}"#)
                .unwrap_err()
                .1,
            "InvalidInstanceId"
        );
        store.load("i-3", b"[]").unwrap();
        assert_eq!(
            store.describe(br#"{"InstanceId":"i-3"}"#).unwrap()["Patches"],
            json!([])
        );
        assert!(store.describe(br#"{}"#).is_err());
        assert!(store.load("i-2", b"{}").is_err());
    }
}
