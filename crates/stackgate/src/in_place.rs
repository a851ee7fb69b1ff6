//! Data lost by an update in place: a change that keeps the resource but shortens how long its
//! data lives (a log group's retention, a queue's message retention, a backup retention) or adds a
//! rule that expires it (an S3 lifecycle rule, a DynamoDB TTL, an ECR lifecycle policy, a backup
//! plan's or snapshot policy's retention) deletes data as surely as a removal. Judged from the change's before and after values
//! (`IncludePropertyValues`); a value that cannot be read (masked, cut, known only at execution,
//! not shown) counts as shortening: fails closed.

use crate::values::ShownValue;

/// How a property decides the lifetime of the resource's data.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Lifetime {
    /// A number: a smaller one keeps data for less time. `None` as the default: kept forever when
    /// the property is not set.
    Retention(Option<u64>),
    /// Rules that expire data: any change may delete some.
    ExpiryRules,
}

/// (type, top-level property, what it decides).
const LIFETIMES: &[(&str, &str, Lifetime)] = &[
    (
        "AWS::ElastiCache::CacheCluster",
        "SnapshotRetentionLimit",
        Lifetime::Retention(Some(0)),
    ),
    (
        "AWS::MemoryDB::Cluster",
        "SnapshotRetentionLimit",
        Lifetime::Retention(Some(0)),
    ),
    (
        "AWS::Redshift::Cluster",
        "AutomatedSnapshotRetentionPeriod",
        Lifetime::Retention(Some(1)),
    ),
    (
        "AWS::S3Express::DirectoryBucket",
        "LifecycleConfiguration",
        Lifetime::ExpiryRules,
    ),
    (
        "AWS::DynamoDB::Table",
        "PointInTimeRecoverySpecification",
        Lifetime::ExpiryRules,
    ),
    (
        "AWS::Timestream::Table",
        "RetentionProperties",
        Lifetime::ExpiryRules,
    ),
    (
        "AWS::Logs::LogGroup",
        "RetentionInDays",
        Lifetime::Retention(None),
    ),
    (
        "AWS::SQS::Queue",
        "MessageRetentionPeriod",
        Lifetime::Retention(Some(345_600)),
    ),
    (
        "AWS::Kinesis::Stream",
        "RetentionPeriodHours",
        Lifetime::Retention(Some(24)),
    ),
    (
        "AWS::RDS::DBInstance",
        "BackupRetentionPeriod",
        Lifetime::Retention(Some(1)),
    ),
    (
        "AWS::RDS::DBCluster",
        "BackupRetentionPeriod",
        Lifetime::Retention(Some(1)),
    ),
    (
        "AWS::DocDB::DBCluster",
        "BackupRetentionPeriod",
        Lifetime::Retention(Some(1)),
    ),
    (
        "AWS::Neptune::DBCluster",
        "BackupRetentionPeriod",
        Lifetime::Retention(Some(1)),
    ),
    (
        "AWS::ElastiCache::ReplicationGroup",
        "SnapshotRetentionLimit",
        Lifetime::Retention(Some(0)),
    ),
    (
        "AWS::S3::Bucket",
        "LifecycleConfiguration",
        Lifetime::ExpiryRules,
    ),
    (
        "AWS::DynamoDB::Table",
        "TimeToLiveSpecification",
        Lifetime::ExpiryRules,
    ),
    (
        "AWS::DynamoDB::GlobalTable",
        "TimeToLiveSpecification",
        Lifetime::ExpiryRules,
    ),
    (
        "AWS::ECR::Repository",
        "LifecyclePolicy",
        Lifetime::ExpiryRules,
    ),
    // Backups are data too: a plan's rule lifecycles and a snapshot policy's retain rules delete
    // recovery points and snapshots.
    (
        "AWS::Backup::BackupPlan",
        "BackupPlan",
        Lifetime::ExpiryRules,
    ),
    (
        "AWS::DLM::LifecyclePolicy",
        "PolicyDetails",
        Lifetime::ExpiryRules,
    ),
];

/// Why an update in place may delete data of a resource of `resource_type`, or `None`.
/// `changed`: the top-level properties it changes; `values`: their before and after values, as
/// shown (masked and cut).
pub fn data_shortened(
    resource_type: &str,
    changed: &[String],
    values: &[ShownValue],
) -> Option<String> {
    LIFETIMES
        .iter()
        .filter(|(t, property, _)| *t == resource_type && changed.iter().any(|c| c == property))
        .find_map(|(_, property, lifetime)| {
            let Lifetime::Retention(default) = lifetime else {
                return Some(format!("changes {property}, whose rules may expire data"));
            };
            let path = format!("/Properties/{property}");
            let shown = values.iter().find(|v| v.path == path);
            let before = shown.ok_or(()).and_then(|v| period(v.before.as_deref(), *default));
            let after = shown.ok_or(()).and_then(|v| period(v.after.as_deref(), *default));
            match (before, after) {
                // Forever, or as long or longer.
                (Ok(_), Ok(None)) => None,
                (Ok(Some(before)), Ok(Some(after))) if after >= before => None,
                (Ok(_), Ok(Some(_))) => Some(format!(
                    "shortens {property}: data older than the new period is deleted"
                )),
                _ => Some(format!(
                    "changes {property}, whose values cannot be read: it may shorten how long data is kept"
                )),
            }
        })
}

/// A retention period as shown: unset is the default (`None`: forever); `Err` when it cannot be
/// read. Whole numbers only, as written: a value that was reformatted (`90.0`) or reads as a number
/// only loosely (`1e400`, `inf`, `+90`) is not read.
fn period(shown: Option<&str>, default: Option<u64>) -> Result<Option<u64>, ()> {
    let Some(text) = shown else {
        return Ok(default);
    };
    let digits = text
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(());
    }
    digits.parse::<u64>().map(Some).map_err(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(path: &str, before: Option<&str>, after: Option<&str>) -> ShownValue {
        ShownValue {
            path: path.into(),
            before: before.map(str::to_string),
            after: after.map(str::to_string),
        }
    }

    fn judge(
        resource_type: &str,
        property: &str,
        before: Option<&str>,
        after: Option<&str>,
    ) -> Option<String> {
        data_shortened(
            resource_type,
            &[property.to_string()],
            &[value(&format!("/Properties/{property}"), before, after)],
        )
    }

    #[test]
    fn a_shorter_retention_deletes_data_a_longer_one_does_not() {
        let logs = "AWS::Logs::LogGroup";
        assert_eq!(judge(logs, "RetentionInDays", Some("30"), Some("90")), None);
        assert_eq!(
            judge(logs, "RetentionInDays", Some("30"), None),
            None,
            "unset: forever"
        );
        assert!(judge(logs, "RetentionInDays", Some("90"), Some("30"))
            .is_some_and(|r| r.starts_with("shortens RetentionInDays")));
        assert!(
            judge(logs, "RetentionInDays", None, Some("365")).is_some(),
            "forever, then a year"
        );
        // A default counts: a queue keeps messages four days unless told otherwise.
        let sqs = "AWS::SQS::Queue";
        assert!(judge(sqs, "MessageRetentionPeriod", None, Some("60")).is_some());
        assert_eq!(
            judge(sqs, "MessageRetentionPeriod", None, Some("1209600")),
            None
        );
        assert!(judge(sqs, "MessageRetentionPeriod", Some("1209600"), None).is_some());
        assert!(judge(
            "AWS::RDS::DBInstance",
            "BackupRetentionPeriod",
            Some("7"),
            Some("0")
        )
        .is_some());
    }

    #[test]
    fn what_cannot_be_read_counts_as_shorter_and_expiry_rules_always_count() {
        let logs = "AWS::Logs::LogGroup";
        for unreadable in [
            "(masked)",
            "(known after apply)",
            "{{resolve:ssm:days}}",
            "",
        ] {
            assert!(
                judge(logs, "RetentionInDays", Some("30"), Some(unreadable)).is_some(),
                "{unreadable}"
            );
        }
        // Changed, but its values are not among those shown.
        assert!(data_shortened(logs, &["RetentionInDays".into()], &[]).is_some());
        assert!(judge(
            "AWS::S3::Bucket",
            "LifecycleConfiguration",
            None,
            Some("{\"Rules\":[]}")
        )
        .is_some());
        assert!(judge(
            "AWS::DynamoDB::Table",
            "TimeToLiveSpecification",
            None,
            Some("{}")
        )
        .is_some());
        // Backups: a plan's lifecycle or a snapshot policy's retain rule may delete them.
        assert!(judge(
            "AWS::Backup::BackupPlan",
            "BackupPlan",
            Some("{\"BackupPlanName\":\"daily\"}"),
            Some("{\"BackupPlanName\":\"daily\"}")
        )
        .is_some_and(|r| r.contains("BackupPlan")));
        assert!(judge(
            "AWS::DLM::LifecyclePolicy",
            "PolicyDetails",
            None,
            Some("{}")
        )
        .is_some());
        // Other properties and other types are not this module's.
        assert_eq!(
            judge(
                logs,
                "LogGroupClass",
                Some("STANDARD"),
                Some("INFREQUENT_ACCESS")
            ),
            None
        );
        assert_eq!(
            judge(
                "AWS::Lambda::Function",
                "RetentionInDays",
                Some("9"),
                Some("1")
            ),
            None
        );
    }
}
