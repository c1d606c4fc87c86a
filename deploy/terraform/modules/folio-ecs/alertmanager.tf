# Alertmanager on Fargate (alertmanager_enabled, the default): one task that receives the
# alerts of the module's Prometheus and sends the notifications (alertmanager_config).
#
# How Prometheus finds it: the same way it finds the folio tasks. The `alerting` block of
# templates/prometheus.yml.tftpl has an aws_sd_configs entry (role ecs, this cluster, port
# 9093) that keeps the RUNNING tasks of the <name>-alertmanager service, so Prometheus
# posts to each task's private IP directly (as Alertmanager wants: never through a load
# balancer). No Cloud Map, no fixed address. With alertmanager_enabled = false, the block
# lists alertmanager_targets instead.
#
# How the configuration gets in: as for Prometheus. alertmanager.yml and the templates are
# environment variables of the container, and the start command (/bin/sh -c; the image is
# busybox-based) writes them to /etc/alertmanager, the directory the image gives its
# unprivileged user and the one deploy/compose.yaml mounts, so the same alertmanager.yml,
# with its `templates/*.tmpl` and `/etc/alertmanager/secrets/<name>` paths, works in both.
# Secrets (alertmanager_secret_files) are ECS secrets written to secrets/<name> with mode
# 0600, never in the task definition or the state.
#
# One task, clustering off (--cluster.listen-address=): silences and the notification log
# live on the task's storage and start empty when it is replaced. The internal ALB serves
# the UI and API on :9093 to alertmanager_ui_cidr_blocks (amtool, silences).

locals {
  alertmanager_port       = 9093
  alertmanager_count      = var.alertmanager_enabled ? 1 : 0
  alertmanager_config_dir = "/etc/alertmanager"

  # The UI and API, through the internal ALB (also the links in notifications).
  alertmanager_internal_url = "http://${aws_lb.internal.dns_name}:${local.alertmanager_port}"

  # Environment variable => (path under the config dir, contents) of every file written.
  alertmanager_files = merge(
    {
      ALERTMANAGER_FILE_ALERTMANAGER_YML = {
        name    = "alertmanager.yml"
        content = var.alertmanager_config == null ? "" : var.alertmanager_config
      }
    },
    {
      for name, content in var.alertmanager_templates :
      "ALERTMANAGER_TEMPLATE_${upper(replace(name, "/[^A-Za-z0-9]/", "_"))}" => {
        name    = "templates/${name}"
        content = content
      }
    },
  )

  # Environment variable (an ECS secret) => (path, ARN).
  alertmanager_secrets = {
    for name, arn in var.alertmanager_secret_files :
    "ALERTMANAGER_SECRET_${upper(replace(name, "/[^A-Za-z0-9]/", "_"))}" => {
      path = "${local.alertmanager_config_dir}/secrets/${name}"
      arn  = arn
    }
  }

  alertmanager_start = join("\n", concat(
    [
      "set -eu",
      "umask 077",
      "mkdir -p ${local.alertmanager_config_dir}/templates ${local.alertmanager_config_dir}/secrets",
    ],
    [for variable, f in local.alertmanager_files : format("printf '%%s' \"$%s\" > %s/%s", variable, local.alertmanager_config_dir, f.name)],
    [for variable, s in local.alertmanager_secrets : format("printf '%%s' \"$%s\" > %s", variable, s.path)],
    ["unset ${join(" ", concat(keys(local.alertmanager_files), keys(local.alertmanager_secrets)))}"],
    [join(" ", [
      "exec /bin/alertmanager",
      "--config.file=${local.alertmanager_config_dir}/alertmanager.yml",
      "--storage.path=/alertmanager",
      "--web.listen-address=:${local.alertmanager_port}",
      "--web.external-url=${local.alertmanager_internal_url}",
      # One replica: no gossip mesh.
      "--cluster.listen-address=",
    ])],
  ))

  alertmanager_container = {
    name       = "alertmanager"
    image      = var.alertmanager_image
    essential  = true
    entryPoint = ["/bin/sh", "-c"]
    command    = [local.alertmanager_start]
    portMappings = [
      { name = "http", containerPort = local.alertmanager_port, protocol = "tcp" },
    ]
    environment = [
      for variable in sort(keys(local.alertmanager_files)) :
      { name = variable, value = local.alertmanager_files[variable].content }
    ]
    secrets = [
      for variable in sort(keys(local.alertmanager_secrets)) :
      { name = variable, valueFrom = local.alertmanager_secrets[variable].arn }
    ]
    # Time to save silences and the notification log.
    stopTimeout = 30
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        "awslogs-group"         = try(aws_cloudwatch_log_group.this["alertmanager"].name, null)
        "awslogs-region"        = data.aws_region.current.name
        "awslogs-stream-prefix" = "alertmanager"
      }
    }
  }
}

resource "aws_ecs_task_definition" "alertmanager" {
  count = local.alertmanager_count

  family                   = local.service_names.alertmanager
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = var.alertmanager_cpu
  memory                   = var.alertmanager_memory
  execution_role_arn       = aws_iam_role.execution.arn

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = var.cpu_architecture
  }

  container_definitions = jsonencode([local.alertmanager_container])

  tags = local.tags

  lifecycle {
    precondition {
      condition     = var.alertmanager_config != null
      error_message = "alertmanager_enabled is true but alertmanager_config is null: pass the YAML, e.g. file(\"deploy/alertmanager/alertmanager.yml\"), or set alertmanager_enabled = false (with alertmanager_targets for an Alertmanager run elsewhere)."
    }
    precondition {
      condition     = length(jsonencode([local.alertmanager_container])) < 60 * 1024
      error_message = "The Alertmanager container definition (config and templates inline) is ${length(jsonencode([local.alertmanager_container]))} bytes; ECS allows 64 KiB per task definition."
    }
  }
}

resource "aws_lb_target_group" "alertmanager" {
  count = local.alertmanager_count

  # "<name>-alertmanager" could exceed the 32 characters of a target group name.
  name                 = "${var.name}-alertmgr"
  port                 = local.alertmanager_port
  protocol             = "HTTP"
  target_type          = "ip"
  vpc_id               = var.vpc_id
  deregistration_delay = 10

  health_check {
    enabled             = true
    path                = "/-/ready"
    matcher             = "200"
    interval            = 15
    timeout             = 5
    healthy_threshold   = 2
    unhealthy_threshold = 3
  }

  tags = local.tags
}

resource "aws_lb_listener" "alertmanager" {
  count = local.alertmanager_count

  load_balancer_arn = aws_lb.internal.arn
  port              = local.alertmanager_port
  protocol          = "HTTP"

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.alertmanager[0].arn
  }

  tags = local.tags
}

resource "aws_ecs_service" "alertmanager" {
  count = local.alertmanager_count

  name                    = local.service_names.alertmanager
  cluster                 = aws_ecs_cluster.this.id
  task_definition         = aws_ecs_task_definition.alertmanager[0].arn
  desired_count           = 1
  launch_type             = "FARGATE"
  platform_version        = "LATEST"
  propagate_tags          = "SERVICE"
  enable_ecs_managed_tags = true

  # One Alertmanager at a time: two unclustered replicas would both notify. During a
  # deployment Prometheus keeps re-sending firing alerts, so nothing is lost, only delayed.
  deployment_minimum_healthy_percent = 0
  deployment_maximum_percent         = 100
  health_check_grace_period_seconds  = 60

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  network_configuration {
    subnets          = var.private_subnet_ids
    security_groups  = [aws_security_group.alertmanager[0].id]
    assign_public_ip = var.assign_public_ip
  }

  load_balancer {
    target_group_arn = aws_lb_target_group.alertmanager[0].arn
    container_name   = local.alertmanager_container.name
    container_port   = local.alertmanager_port
  }

  tags = local.tags

  depends_on = [
    aws_lb_listener.alertmanager,
    aws_iam_role_policy.execution_secrets,
  ]

  lifecycle {
    precondition {
      condition     = length(var.alertmanager_targets) == 0
      error_message = "alertmanager_targets is for an Alertmanager run elsewhere, with alertmanager_enabled = false; with both, every alert would be notified twice."
    }
  }
}

# ---------------------------------------------------------------------------
# Network: Prometheus and the internal ALB reach it on 9093; it reaches the receivers.
# ---------------------------------------------------------------------------

resource "aws_security_group" "alertmanager" {
  count = local.alertmanager_count

  name        = "${var.name}-alertmanager"
  description = "folio Alertmanager task"
  vpc_id      = var.vpc_id
  tags        = merge(local.tags, { Name = "${var.name}-alertmanager" })
}

resource "aws_vpc_security_group_ingress_rule" "alertmanager_from_prometheus" {
  count = local.alertmanager_count

  security_group_id            = aws_security_group.alertmanager[0].id
  description                  = "Prometheus posts alerts"
  ip_protocol                  = "tcp"
  from_port                    = local.alertmanager_port
  to_port                      = local.alertmanager_port
  referenced_security_group_id = aws_security_group.prometheus.id
}

resource "aws_vpc_security_group_ingress_rule" "alertmanager_from_internal_alb" {
  count = local.alertmanager_count

  security_group_id            = aws_security_group.alertmanager[0].id
  description                  = "from the internal ALB (UI, API, health checks)"
  ip_protocol                  = "tcp"
  from_port                    = local.alertmanager_port
  to_port                      = local.alertmanager_port
  referenced_security_group_id = aws_security_group.internal_alb.id
}

resource "aws_vpc_security_group_egress_rule" "alertmanager_all" {
  count = local.alertmanager_count

  security_group_id = aws_security_group.alertmanager[0].id
  description       = "receivers (webhooks, Slack, PagerDuty, SMTP), image pulls, logs, secrets"
  ip_protocol       = "-1"
  cidr_ipv4         = "0.0.0.0/0"
}

resource "aws_vpc_security_group_ingress_rule" "internal_alb_alertmanager_cidrs" {
  for_each = var.alertmanager_enabled ? toset(var.alertmanager_ui_cidr_blocks) : toset([])

  security_group_id = aws_security_group.internal_alb.id
  description       = "Alertmanager UI and API from an allowed network"
  ip_protocol       = "tcp"
  from_port         = local.alertmanager_port
  to_port           = local.alertmanager_port
  cidr_ipv4         = each.value
}

resource "aws_vpc_security_group_egress_rule" "internal_alb_to_alertmanager" {
  count = local.alertmanager_count

  security_group_id            = aws_security_group.internal_alb.id
  description                  = "to the Alertmanager task"
  ip_protocol                  = "tcp"
  from_port                    = local.alertmanager_port
  to_port                      = local.alertmanager_port
  referenced_security_group_id = aws_security_group.alertmanager[0].id
}
