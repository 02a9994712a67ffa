"""The AWS provider: the one package that talks to AWS.

It offers domain verbs (`create_account`, `attach_policy`, `deploy_stack`, `put_object`, ...) and
makes no decisions: what to change and in which order is the planner's and the applier's
business. It owns everything that is about *how* to talk to AWS: one shared boto3 Session, clients
cached per service, account, role and region, assumed-role credentials, pagination, waiting for
asynchronous operations, and retries.

Every failure leaves this package as an `AwsError` (or one of its subclasses) carrying the
service's own error code and message, so callers never see botocore exceptions.

`AwsProvider` implements orgc.provider.Provider, the protocol everything else in orgc is typed
against. The package is a leaf: it imports of orgc only that protocol and the data types it
shares with the stages (orgc.observed), so importing it loads no stage.

Modules by concern: `session` (Session, clients, credentials, retries, waiting), `organizations`,
`accounts` (IAM inside an account), `s3`, `cloudformation` (stacks), `stacksets`; `provider` puts
them on one class.
"""

from orgc.aws.errors import AwsError, NoCredentials, PreconditionFailed, StackFailed
from orgc.aws.provider import AwsProvider
from orgc.aws.session import DEFAULT_ACCESS_ROLE

__all__ = [
    "DEFAULT_ACCESS_ROLE",
    "AwsError",
    "AwsProvider",
    "NoCredentials",
    "PreconditionFailed",
    "StackFailed",
]
