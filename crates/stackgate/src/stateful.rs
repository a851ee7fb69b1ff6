//! What a resource holds: a removal or replacement is judged by whether data is lost, not by the
//! churn of logical ids. The lists are data: the operator adds protected types and marks types as
//! replaceable through the template (`ProtectedResourceTypes`, `ReplaceableResourceTypes`), and
//! protects logical ids (`ProtectedLogicalIds`); a request cannot change them. A type on neither list
//! is treated as holding data (fails closed). Whether a template's `Metadata` or a request may
//! accept a data loss is the operator's to say too (`DataLossIntent`, default: neither), and never
//! for what the operator protected.

/// Types that hold data (or keys to it, or its history): removing or replacing one loses it unless
/// a retain or snapshot policy keeps it. `*` at the end matches a whole namespace.
pub const STATEFUL_TYPES: &[&str] = &[
    "AWS::DynamoDB::Table",
    "AWS::DynamoDB::GlobalTable",
    "AWS::RDS::DBInstance",
    "AWS::RDS::DBCluster",
    "AWS::Neptune::DBCluster",
    "AWS::Neptune::DBInstance",
    "AWS::DocDB::DBCluster",
    "AWS::DocDB::DBInstance",
    "AWS::Redshift::Cluster",
    "AWS::RedshiftServerless::Namespace",
    "AWS::S3::Bucket",
    "AWS::S3Express::DirectoryBucket",
    "AWS::EFS::FileSystem",
    "AWS::FSx::FileSystem",
    "AWS::EC2::Volume",
    "AWS::OpenSearchService::Domain",
    "AWS::Elasticsearch::Domain",
    "AWS::ElastiCache::CacheCluster",
    "AWS::ElastiCache::ReplicationGroup",
    "AWS::ElastiCache::ServerlessCache",
    "AWS::MemoryDB::Cluster",
    "AWS::Kinesis::Stream",
    "AWS::KinesisFirehose::DeliveryStream",
    "AWS::SQS::Queue",
    "AWS::KMS::Key",
    "AWS::Cognito::UserPool",
    "AWS::Logs::LogGroup",
    "AWS::SecretsManager::Secret",
    "AWS::Backup::BackupVault",
    "AWS::ECR::Repository",
    "AWS::Timestream::Database",
    "AWS::Timestream::Table",
    "AWS::MSK::Cluster",
    "AWS::AmazonMQ::Broker",
    "AWS::Glue::Database",
    "AWS::Glue::Table",
    "AWS::CodeCommit::Repository",
    "AWS::QLDB::Ledger",
    "AWS::Cassandra::Table",
];

/// Types that hold no data of their own: the template (or code the template points to) re-creates
/// them as they were. Removing or replacing one is safe, unless it is security-sensitive. Not here
/// on purpose: SNS topics and event buses (others subscribe to them outside the template), SSM
/// parameters (values are often set outside it).
pub const STATELESS_TYPES: &[&str] = &[
    "AWS::Lambda::Function",
    "AWS::Lambda::Version",
    "AWS::Lambda::Alias",
    "AWS::Lambda::LayerVersion",
    "AWS::Lambda::EventSourceMapping",
    "AWS::Lambda::EventInvokeConfig",
    "AWS::ApiGateway::Deployment",
    "AWS::ApiGateway::Stage",
    "AWS::ApiGateway::Method",
    "AWS::ApiGateway::Resource",
    "AWS::ApiGateway::Model",
    "AWS::ApiGateway::RequestValidator",
    "AWS::ApiGateway::GatewayResponse",
    "AWS::ApiGateway::BasePathMapping",
    "AWS::ApiGateway::UsagePlanKey",
    "AWS::ApiGatewayV2::Deployment",
    "AWS::ApiGatewayV2::Stage",
    "AWS::ApiGatewayV2::Route",
    "AWS::ApiGatewayV2::Integration",
    "AWS::StepFunctions::StateMachine",
    "AWS::StepFunctions::Activity",
    "AWS::Events::Rule",
    "AWS::Scheduler::Schedule",
    "AWS::SNS::Subscription",
    "AWS::CloudWatch::Alarm",
    "AWS::CloudWatch::CompositeAlarm",
    "AWS::CloudWatch::Dashboard",
    "AWS::Logs::MetricFilter",
    "AWS::ECS::TaskDefinition",
    "AWS::ECS::Service",
    "AWS::AppConfig::*",
    "AWS::CloudFormation::WaitCondition",
    "AWS::CloudFormation::WaitConditionHandle",
    "AWS::CDK::Metadata",
    // Access, not data: a change to one is security-sensitive whatever this list says; a whole
    // stack's deletion only takes access away with them.
    "AWS::IAM::Role",
    "AWS::IAM::Policy",
    "AWS::IAM::ManagedPolicy",
    "AWS::IAM::InstanceProfile",
    "AWS::EC2::SecurityGroup",
    "AWS::EC2::SecurityGroupIngress",
    "AWS::EC2::SecurityGroupEgress",
    "AWS::S3::BucketPolicy",
    "AWS::SNS::TopicPolicy",
    "AWS::SQS::QueuePolicy",
    "AWS::Lambda::Permission",
];

/// What a type holds, as far as a removal or replacement is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Holds {
    /// Data (or an unknown type): lost unless a retain or snapshot policy keeps it.
    Data,
    /// Nothing the template cannot re-create.
    Nothing,
}

/// Who, besides a person approving, may accept that a change loses data (`DataLossIntent`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DataLossIntent {
    /// A resource's `Metadata` (`stackgate: {allowReplace: true}`, `allowRemove: true`).
    pub template: bool,
    /// The request's `allowDataLoss` (logical ids).
    pub request: bool,
}

impl DataLossIntent {
    /// `template`, `request`, both comma-separated, or nothing (neither).
    pub fn parse(entries: &[String]) -> Result<Self, String> {
        let mut intent = DataLossIntent::default();
        for entry in entries {
            match entry.as_str() {
                "template" => intent.template = true,
                "request" => intent.request = true,
                _ => return Err("entries may only be \"template\" and \"request\"".into()),
            }
        }
        Ok(intent)
    }
}

/// The operator's lists over the defaults. The operator's protected types come first, then the
/// operator's replaceable ones, then the defaults; a type on no list holds data.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatefulTypes {
    protected: Vec<String>,
    replaceable: Vec<String>,
    /// `LogicalId`, `Parent/Child` (nested) or `stack-name:LogicalId`; a trailing `*` matches a prefix.
    protected_ids: Vec<String>,
    pub intent: DataLossIntent,
}

/// An entry of `ProtectedLogicalIds`: `Id`, `Parent/Child` or `stack-name:Id`, each part letters
/// and digits (a stack name also hyphens), a `*` only at the end of the stack name or of the
/// entry. A typo must not silently protect nothing, so anything else is refused at start-up.
pub fn check_protected_id(entry: &str) -> Result<(), String> {
    let part = |text: &str, extra: &[char]| {
        let text = text.strip_suffix('*').unwrap_or(text);
        !text.is_empty()
            && text.split('/').all(|s| {
                !s.is_empty()
                    && s.chars()
                        .all(|c| c.is_ascii_alphanumeric() || extra.contains(&c))
            })
    };
    let (stack, id) = entry.split_once(':').unwrap_or(("x", entry));
    if part(stack, &['-']) && !stack.contains('/') && part(id, &[]) {
        Ok(())
    } else {
        Err("entries must be LogicalId, Parent/Child or stack-name:LogicalId, with * only at the end".into())
    }
}

/// A bare id (`Orders`) protects that logical id in every stack, nested ones included (the last
/// part of `Data/Orders`); `Data/Orders` only that path; `prod-shop:Orders` only in that stack
/// (`prod-*:Orders` in stacks named so).
fn protected_id_matches(pattern: &str, stack: &str, id: &str) -> bool {
    let (stack_pattern, id_pattern) = match pattern.split_once(':') {
        Some((s, i)) => (Some(s), i),
        None => (None, pattern),
    };
    if stack_pattern.is_some_and(|s| !crate::sensitive::pattern_matches(s, stack)) {
        return false;
    }
    let last = id.rsplit('/').next().unwrap_or(id);
    crate::sensitive::pattern_matches(id_pattern, id)
        || (!id_pattern.contains('/') && crate::sensitive::pattern_matches(id_pattern, last))
}

impl StatefulTypes {
    pub fn new(protected: Vec<String>, replaceable: Vec<String>) -> Self {
        StatefulTypes {
            protected,
            replaceable,
            ..StatefulTypes::default()
        }
    }

    /// The operator's protected logical ids and who may accept a data loss.
    pub fn with_operator_floor(
        mut self,
        protected_ids: Vec<String>,
        intent: DataLossIntent,
    ) -> Self {
        self.protected_ids = protected_ids;
        self.intent = intent;
        self
    }

    /// The resource is one the operator protects, by its type or its logical id: it holds data
    /// whatever the lists say, and no template or request may accept its loss. `id` is qualified
    /// (`Parent/Child` inside a nested stack).
    pub fn operator_protects(&self, stack: &str, id: &str, resource_type: &str) -> bool {
        self.protected
            .iter()
            .any(|p| crate::sensitive::pattern_matches(p, resource_type))
            || self
                .protected_ids
                .iter()
                .any(|p| protected_id_matches(p, stack, id))
    }

    /// What a resource holds, its logical id counted (a protected id holds data).
    pub fn holds_resource(&self, stack: &str, id: &str, resource_type: &str) -> Holds {
        if self.operator_protects(stack, id, resource_type) {
            Holds::Data
        } else {
            self.holds(resource_type)
        }
    }

    pub fn holds(&self, resource_type: &str) -> Holds {
        let hit = |patterns: &[&str]| {
            patterns
                .iter()
                .any(|p| crate::sensitive::pattern_matches(p, resource_type))
        };
        let protected: Vec<&str> = self.protected.iter().map(String::as_str).collect();
        let replaceable: Vec<&str> = self.replaceable.iter().map(String::as_str).collect();
        if hit(&protected) {
            Holds::Data
        } else if hit(&replaceable) {
            Holds::Nothing
        } else if hit(STATEFUL_TYPES) {
            Holds::Data
        } else if hit(STATELESS_TYPES) {
            Holds::Nothing
        } else {
            Holds::Data
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_stores_hold_data_glue_holds_nothing_and_unknown_types_fail_closed() {
        let types = StatefulTypes::default();
        assert_eq!(types.holds("AWS::DynamoDB::Table"), Holds::Data);
        assert_eq!(types.holds("AWS::RDS::DBInstance"), Holds::Data);
        assert_eq!(types.holds("AWS::Lambda::Version"), Holds::Nothing);
        assert_eq!(types.holds("AWS::ApiGateway::Deployment"), Holds::Nothing);
        assert_eq!(types.holds("AWS::AppConfig::Application"), Holds::Nothing);
        assert_eq!(types.holds("AWS::Something::New"), Holds::Data);
        assert_eq!(types.holds("Custom::Thing"), Holds::Data);
    }

    #[test]
    fn the_operator_protects_and_releases_types() {
        let types = StatefulTypes::new(
            vec!["AWS::Lambda::Function".into()],
            vec!["AWS::Something::*".into(), "AWS::SQS::Queue".into()],
        );
        assert_eq!(types.holds("AWS::Lambda::Function"), Holds::Data);
        assert_eq!(types.holds("AWS::Something::New"), Holds::Nothing);
        // The operator may release a type held as data by default (a queue of no value)...
        assert_eq!(types.holds("AWS::SQS::Queue"), Holds::Nothing);
        // ...and protect one of a namespace released as a whole.
        let both = StatefulTypes::new(
            vec!["AWS::AppConfig::HostedConfigurationVersion".into()],
            vec![],
        );
        assert_eq!(
            both.holds("AWS::AppConfig::HostedConfigurationVersion"),
            Holds::Data
        );
        assert_eq!(both.holds("AWS::AppConfig::Application"), Holds::Nothing);
    }

    #[test]
    fn the_operator_protects_logical_ids_in_any_stack_or_one() {
        let types = StatefulTypes::new(vec![], vec!["AWS::SQS::Queue".into()]).with_operator_floor(
            vec![
                "Orders".into(),
                "prod-app:Cache*".into(),
                "Data/Queue".into(),
            ],
            DataLossIntent::default(),
        );
        for (stack, id, resource_type, holds) in [
            ("dev-x", "Orders", "AWS::Lambda::Function", Holds::Data),
            ("prod-app", "CacheTable", "AWS::SQS::Queue", Holds::Data),
            ("dev-app", "CacheTable", "AWS::SQS::Queue", Holds::Nothing),
            ("dev-app", "Data/Queue", "AWS::SQS::Queue", Holds::Data),
            ("dev-app", "OrdersOld", "AWS::SQS::Queue", Holds::Nothing),
            // A bare id counts inside nested stacks; a stack-qualified one only in that stack.
            ("dev-app", "Data/Orders", "AWS::SQS::Queue", Holds::Data),
            ("dev-app", "Other/Queue", "AWS::SQS::Queue", Holds::Nothing),
            (
                "prod-app-2",
                "CacheTable",
                "AWS::SQS::Queue",
                Holds::Nothing,
            ),
        ] {
            assert_eq!(
                types.holds_resource(stack, id, resource_type),
                holds,
                "{stack}:{id}"
            );
        }
        assert!(types.operator_protects("dev", "Orders", "AWS::SQS::Queue"));
        assert!(!types.operator_protects("dev", "Other", "AWS::DynamoDB::Table"));
    }

    #[test]
    fn a_protected_id_the_reader_would_not_match_as_written_is_refused() {
        for good in [
            "Orders",
            "Ledger*",
            "Data/Orders",
            "prod-shop:Orders",
            "prod-*:Ledger",
            "prod-shop:Data/Q*",
        ] {
            assert_eq!(check_protected_id(good), Ok(()), "{good}");
        }
        for bad in [
            "*Audit",
            "prod*shop:X",
            "Or ders",
            "a:b:c",
            ":Orders",
            "prod:",
            "Data/",
            "/Orders",
            "a/b:C",
            "Or*ders",
        ] {
            assert!(check_protected_id(bad).is_err(), "{bad}");
        }
        // A stack pattern never matches ids that merely start alike.
        let types = StatefulTypes::default()
            .with_operator_floor(vec!["prod*".into()], DataLossIntent::default());
        assert!(!types.operator_protects("prod-shop", "Table", "AWS::SQS::Queue"));
        assert!(types.operator_protects("dev", "production", "AWS::SQS::Queue"));
    }

    #[test]
    fn who_may_accept_a_data_loss_is_named_by_the_operator() {
        let parse = |entries: &[&str]| {
            DataLossIntent::parse(&entries.iter().map(|e| e.to_string()).collect::<Vec<_>>())
        };
        assert_eq!(parse(&[]), Ok(DataLossIntent::default()));
        assert_eq!(
            parse(&["template", "request"]),
            Ok(DataLossIntent {
                template: true,
                request: true
            })
        );
        assert!(parse(&["everyone"]).is_err());
    }
}
