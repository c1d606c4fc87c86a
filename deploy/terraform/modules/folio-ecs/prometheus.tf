# Prometheus on Fargate. It finds the folio tasks itself (aws_sd_configs, role ecs, on
# Prometheus 3.8 or later), scrapes each task's /api/metrics with the metrics token, and
# evaluates the repository's recording and alerting rules. Alerts go to the module's
# Alertmanager (alertmanager.tf), found like the folio tasks, or to alertmanager_targets.
#
# How the configuration gets into the task: Terraform renders prometheus.yml from
# templates/prometheus.yml.tftpl and reads deploy/prometheus/rules/*.yml, and passes each
# file as an environment variable of the container; a short /bin/sh start command writes
# them to files and execs Prometheus. No S3 bucket, EFS or init container, and any change
# to the config or the rules is a new task definition revision, rolled out like any
# deployment. The price is ECS's 64 KiB limit on a task definition, checked at plan time
# below; past it, move the rules to S3 and sync them in an init container.
#
# The metrics token is never in the configuration or the Terraform state: the container
# gets it as an ECS secret (the same ARN as the services' FOLIO_METRICS_TOKEN), the start
# command writes it to a file readable only by Prometheus's user, and the scrape configs
# point `authorization.credentials_file` at that file.

locals {
  prometheus_port = 9090

  # /tmp: writable by the image's unprivileged user; the TSDB stays in /prometheus.
  prometheus_config_dir        = "/tmp/folio-prometheus"
  prometheus_metrics_token     = "${local.prometheus_config_dir}/metrics-token"
  prometheus_remote_write_file = var.remote_write_bearer_token_secret_arn == null ? null : "${local.prometheus_config_dir}/remote-write-token"

  # The same rule files `folio run` and the compose stack load.
  prometheus_rules_dir = "${path.module}/../../../prometheus/rules"
  prometheus_rules     = sort(fileset(local.prometheus_rules_dir, "*.yml"))

  prometheus_config = templatefile("${path.module}/templates/prometheus.yml.tftpl", {
    scrape_interval         = var.scrape_interval
    sd_refresh_interval     = var.sd_refresh_interval
    region                  = data.aws_region.current.name
    cluster_name            = aws_ecs_cluster.this.name
    cluster_arn             = aws_ecs_cluster.this.arn
    prometheus_name         = local.service_names.prometheus
    service_names           = local.service_names
    ports                   = local.ports
    config_dir              = local.prometheus_config_dir
    rule_files              = local.prometheus_rules
    metrics_token_file      = local.prometheus_metrics_token
    alertmanager_targets    = var.alertmanager_targets
    alertmanager_service    = var.alertmanager_enabled ? local.service_names.alertmanager : null
    alertmanager_port       = local.alertmanager_port
    remote_write_url        = var.remote_write_url
    remote_write_token_file = local.prometheus_remote_write_file
    remote_write_headers    = var.remote_write_headers
    remote_write_queue      = var.remote_write_queue_config
  })

  # Environment variable => (file name, contents) of every file the start command writes.
  prometheus_files = merge(
    { PROMETHEUS_FILE_PROMETHEUS_YML = { name = "prometheus.yml", content = local.prometheus_config } },
    {
      for rule_file in local.prometheus_rules :
      "PROMETHEUS_FILE_${upper(replace(rule_file, "/[^A-Za-z0-9]/", "_"))}" => {
        name    = rule_file
        content = file("${local.prometheus_rules_dir}/${rule_file}")
      }
    },
  )

  prometheus_secret_files = merge(
    { FOLIO_METRICS_TOKEN = local.prometheus_metrics_token },
    local.prometheus_remote_write_file == null ? {} : { REMOTE_WRITE_TOKEN = local.prometheus_remote_write_file },
  )

  prometheus_start = join("\n", concat(
    ["set -eu", "umask 077", "mkdir -p ${local.prometheus_config_dir}"],
    [for variable, f in local.prometheus_files : format("printf '%%s' \"$%s\" > %s/%s", variable, local.prometheus_config_dir, f.name)],
    [for variable, path in local.prometheus_secret_files : format("printf '%%s' \"$%s\" > %s", variable, path)],
    ["unset ${join(" ", concat(keys(local.prometheus_files), keys(local.prometheus_secret_files)))}"],
    [join(" ", [
      "exec /bin/prometheus",
      "--config.file=${local.prometheus_config_dir}/prometheus.yml",
      "--storage.tsdb.path=/prometheus",
      "--storage.tsdb.retention.time=${var.prometheus_retention}",
      "--storage.tsdb.retention.size=${floor(var.prometheus_ephemeral_storage_gib * 0.8)}GB",
      "--web.listen-address=:${local.prometheus_port}",
    ])],
  ))

  prometheus_container = {
    name       = "prometheus"
    image      = var.prometheus_image
    essential  = true
    entryPoint = ["/bin/sh", "-c"]
    command    = [local.prometheus_start]
    portMappings = [
      { name = "http", containerPort = local.prometheus_port, protocol = "tcp" },
    ]
    environment = [
      for variable in sort(keys(local.prometheus_files)) :
      { name = variable, value = local.prometheus_files[variable].content }
    ]
    secrets = concat(
      [{ name = "FOLIO_METRICS_TOKEN", valueFrom = var.metrics_token_secret_arn }],
      var.remote_write_bearer_token_secret_arn == null ? [] : [{ name = "REMOTE_WRITE_TOKEN", valueFrom = var.remote_write_bearer_token_secret_arn }],
    )
    # Time to finish writing the head block and flush remote_write queues.
    stopTimeout = 120
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        "awslogs-group"         = aws_cloudwatch_log_group.this["prometheus"].name
        "awslogs-region"        = data.aws_region.current.name
        "awslogs-stream-prefix" = "prometheus"
      }
    }
  }
}

resource "aws_ecs_task_definition" "prometheus" {
  family                   = local.service_names.prometheus
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = var.prometheus_cpu
  memory                   = var.prometheus_memory
  execution_role_arn       = aws_iam_role.execution.arn
  task_role_arn            = aws_iam_role.prometheus_task.arn

  ephemeral_storage {
    size_in_gib = var.prometheus_ephemeral_storage_gib
  }

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = var.cpu_architecture
  }

  container_definitions = jsonencode([local.prometheus_container])

  tags = local.tags

  lifecycle {
    precondition {
      condition     = length(jsonencode([local.prometheus_container])) < 60 * 1024
      error_message = "The Prometheus container definition (config and rules inline) is ${length(jsonencode([local.prometheus_container]))} bytes; ECS allows 64 KiB per task definition. Move the rules to S3."
    }
  }
}

resource "aws_lb_target_group" "prometheus" {
  name                 = "${var.name}-prometheus"
  port                 = local.prometheus_port
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

resource "aws_ecs_service" "prometheus" {
  name                    = local.service_names.prometheus
  cluster                 = aws_ecs_cluster.this.id
  task_definition         = aws_ecs_task_definition.prometheus.arn
  desired_count           = 1
  launch_type             = "FARGATE"
  platform_version        = "LATEST"
  propagate_tags          = "SERVICE"
  enable_ecs_managed_tags = true

  # One Prometheus at a time: two overlapping replicas with the same external labels would
  # send clashing samples to remote_write. A deployment leaves a scrape gap of a minute or
  # two (and, without remote_write, starts from an empty TSDB).
  deployment_minimum_healthy_percent = 0
  deployment_maximum_percent         = 100
  health_check_grace_period_seconds  = 120

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  network_configuration {
    subnets          = var.private_subnet_ids
    security_groups  = [aws_security_group.prometheus.id]
    assign_public_ip = var.assign_public_ip
  }

  load_balancer {
    target_group_arn = aws_lb_target_group.prometheus.arn
    container_name   = local.prometheus_container.name
    container_port   = local.prometheus_port
  }

  tags = local.tags

  depends_on = [
    aws_lb_listener.prometheus,
    aws_iam_role_policy.execution_secrets,
    aws_iam_role_policy.prometheus_discovery,
  ]
}
