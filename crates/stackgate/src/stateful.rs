//! What a resource holds: a removal or replacement is judged by whether data is lost, not by the
//! churn of logical ids. The lists are data: the operator adds protected types and marks types as
//! replaceable through the template (`ProtectedResourceTypes`, `ReplaceableResourceTypes`); a
//! request cannot change them. A type on neither list is treated as holding data (fails closed).

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

/// The operator's lists over the defaults. The operator's protected types come first, then the
/// operator's replaceable ones, then the defaults; a type on no list holds data.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatefulTypes {
    protected: Vec<String>,
    replaceable: Vec<String>,
}

impl StatefulTypes {
    pub fn new(protected: Vec<String>, replaceable: Vec<String>) -> Self {
        StatefulTypes {
            protected,
            replaceable,
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
}
