# IAM: one execution role (used by the ECS agent to pull images, write logs and fetch
# the secrets at task start) and task roles (what the running code may call).

locals {
  # Every secret a container definition names; the execution role may read these and
  # nothing else.
  secret_arns = compact(concat(
    [
      var.database_url_secret_arn,
      var.api_token_secret_arn,
      var.metrics_token_secret_arn,
      var.status_token_secret_arn,
      var.remote_write_bearer_token_secret_arn,
    ],
    var.alertmanager_enabled ? values(var.alertmanager_secret_files) : [],
  ))

  ssm_parameter_arns = distinct([
    for arn in local.secret_arns : arn if split(":", arn)[2] == "ssm"
  ])

  # A Secrets Manager reference may name a JSON key or version after the secret
  # (arn:aws:secretsmanager:region:account:secret:name-AbCdEf:key:stage:version);
  # IAM wants the secret's own ARN, its first seven fields.
  secretsmanager_arns = distinct([
    for arn in local.secret_arns : join(":", slice(split(":", arn), 0, 7))
    if split(":", arn)[2] == "secretsmanager"
  ])
}

data "aws_iam_policy_document" "ecs_tasks_assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }

    # Only ECS acting for this account (confused-deputy guard).
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}

# ---------------------------------------------------------------------------
# Execution role
# ---------------------------------------------------------------------------

resource "aws_iam_role" "execution" {
  name               = "${var.name}-ecs-execution"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
  tags               = local.tags
}

# ECR pulls and CloudWatch Logs writes.
resource "aws_iam_role_policy_attachment" "execution_managed" {
  role       = aws_iam_role.execution.name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"
}

data "aws_iam_policy_document" "execution_secrets" {
  dynamic "statement" {
    for_each = length(local.ssm_parameter_arns) > 0 ? [1] : []
    content {
      sid       = "ReadFolioParameters"
      actions   = ["ssm:GetParameters"]
      resources = local.ssm_parameter_arns
    }
  }

  dynamic "statement" {
    for_each = length(local.secretsmanager_arns) > 0 ? [1] : []
    content {
      sid       = "ReadFolioSecrets"
      actions   = ["secretsmanager:GetSecretValue"]
      resources = local.secretsmanager_arns
    }
  }

  dynamic "statement" {
    for_each = length(var.secrets_kms_key_arns) > 0 ? [1] : []
    content {
      sid       = "DecryptFolioSecrets"
      actions   = ["kms:Decrypt"]
      resources = var.secrets_kms_key_arns
    }
  }
}

resource "aws_iam_role_policy" "execution_secrets" {
  name   = "folio-secrets"
  role   = aws_iam_role.execution.id
  policy = data.aws_iam_policy_document.execution_secrets.json
}

# ---------------------------------------------------------------------------
# Task roles
# ---------------------------------------------------------------------------

# folio-api and folio-web call no AWS API; the role exists so that permissions can be
# attached later (aws_iam_role_policy_attachment on the task_role_name output).
resource "aws_iam_role" "app_task" {
  name               = "${var.name}-app-task"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
  tags               = local.tags
}

resource "aws_iam_role" "prometheus_task" {
  name               = "${var.name}-prometheus-task"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
  tags               = local.tags
}

# What aws_sd_configs (role ecs) calls, per the Prometheus documentation. Read-only, and
# on "*": List* calls take no resource, and at start-up the discovery tests its
# credentials with a DescribeClusters that names no cluster. ecs:DescribeContainerInstances
# and ec2:DescribeInstances are only used for EC2-launch-type tasks; there are none here.
data "aws_iam_policy_document" "prometheus_discovery" {
  statement {
    sid = "EcsServiceDiscovery"
    actions = [
      "ecs:ListClusters",
      "ecs:DescribeClusters",
      "ecs:ListServices",
      "ecs:DescribeServices",
      "ecs:ListTasks",
      "ecs:DescribeTasks",
      "ec2:DescribeNetworkInterfaces",
    ]
    resources = ["*"]
  }
}

resource "aws_iam_role_policy" "prometheus_discovery" {
  name   = "prometheus-ecs-discovery"
  role   = aws_iam_role.prometheus_task.id
  policy = data.aws_iam_policy_document.prometheus_discovery.json
}
