# folio on ECS Fargate: folio-api and folio-web behind ALBs, plus a Prometheus that finds
# their tasks with aws_sd_configs (role ecs) and an Alertmanager it sends its alerts to.
# The files split the module by concern:
#
#   main.tf        what the services are: ports, paths, container definitions (this file)
#   network.tf     security groups, the public ALB (folio-web) and the internal ALB
#                  (folio-api on :3001 for folio-web, Prometheus on :9090,
#                  Alertmanager on :9093)
#   ecs.tf         cluster, task definitions and services of folio-api and folio-web
#   iam.tf         execution role (reads exactly the secrets given), task roles
#   prometheus.tf  Prometheus task and service, its rendered config and discovery rights
#   alertmanager.tf  Alertmanager task and service (alertmanager_enabled), its network
#   logs.tf        one CloudWatch log group per service
#
# tests/deploy/test_terraform.py parses these files and checks the literals below against
# the code: the ports against `folio api|web --port`, the paths against the apps' routes,
# every FOLIO_* name against the settings classes. Change them together.

data "aws_region" "current" {}

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

locals {
  # The CLI's default ports (`folio api --port`, `folio web --port`); the images serve on them.
  ports = {
    api = 3001
    web = 3000
  }

  # Both services answer 200 here only when they can serve: folio-api when its database
  # answers, and neither while draining after SIGTERM. The ALB health checks use it.
  readiness_path = "/api/health/ready"

  # Where both services expose Prometheus metrics (scraped per task, never via an ALB).
  metrics_path = "/api/metrics"

  # ALB health checks: a target that starts answering 503 leaves rotation after
  # interval x unhealthy_threshold seconds, which drain_seconds must cover.
  health_check_interval            = 5
  health_check_timeout             = 3
  health_check_healthy_threshold   = 2
  health_check_unhealthy_threshold = 2

  # SIGTERM -> drain (readiness 503, listener open) -> listener closed, in-flight requests
  # get the grace -> exit. SIGKILL comes stopTimeout seconds after SIGTERM.
  stop_timeout = var.drain_seconds + var.shutdown_grace_seconds + var.stop_timeout_margin_seconds

  service_names = {
    api          = "${var.name}-api"
    web          = "${var.name}-web"
    prometheus   = "${var.name}-prometheus"
    alertmanager = "${var.name}-alertmanager"
  }

  # folio-web reaches folio-api through the internal ALB (a listener on the API's port), so
  # web -> api traffic gets the same readiness checks and draining as public traffic.
  api_internal_url        = "http://${aws_lb.internal.dns_name}:${local.ports.api}"
  prometheus_internal_url = "http://${aws_lb.internal.dns_name}:${local.prometheus_port}"

  # The container definitions, as HCL objects so that the test can read them. Optional
  # and user-supplied entries are appended in ecs.tf (local.extra_environment/secrets).
  containers = {
    api = {
      name      = "folio-api"
      image     = var.api_image
      essential = true
      portMappings = [
        { name = "http", containerPort = local.ports.api, protocol = "tcp" },
      ]
      # Liveness only (GET /api/health on 127.0.0.1): a database outage makes the task
      # leave the ALB through readiness, but does not get it killed.
      healthCheck = {
        command     = ["CMD", "folio", "healthcheck", "api"]
        interval    = 10
        timeout     = 5
        retries     = 3
        startPeriod = 30
      }
      stopTimeout = local.stop_timeout
      environment = [
        { name = "FOLIO_WORKERS", value = tostring(var.workers) },
        { name = "FOLIO_DRAIN_SECONDS", value = tostring(var.drain_seconds) },
        { name = "FOLIO_SHUTDOWN_GRACE_SECONDS", value = tostring(var.shutdown_grace_seconds) },
        { name = "FOLIO_BUILD_COMMIT", value = var.build_commit },
        { name = "FOLIO_LOG_LEVEL", value = var.log_level },
        { name = "FOLIO_LOG_FORMAT", value = var.log_format },
      ]
      secrets = [
        { name = "FOLIO_DATABASE_URL", valueFrom = var.database_url_secret_arn },
        { name = "FOLIO_API_TOKEN", valueFrom = var.api_token_secret_arn },
        { name = "FOLIO_METRICS_TOKEN", valueFrom = var.metrics_token_secret_arn },
      ]
      logConfiguration = {
        logDriver = "awslogs"
        options = {
          "awslogs-group"         = aws_cloudwatch_log_group.this["api"].name
          "awslogs-region"        = data.aws_region.current.name
          "awslogs-stream-prefix" = "api"
          # A slow CloudWatch must not stall the event loop; a full buffer drops lines.
          "mode"            = "non-blocking"
          "max-buffer-size" = "4m"
        }
      }
    }

    web = {
      name      = "folio-web"
      image     = var.web_image
      essential = true
      portMappings = [
        { name = "http", containerPort = local.ports.web, protocol = "tcp" },
      ]
      healthCheck = {
        command     = ["CMD", "folio", "healthcheck", "web"]
        interval    = 10
        timeout     = 5
        retries     = 3
        startPeriod = 15
      }
      stopTimeout = local.stop_timeout
      environment = [
        { name = "FOLIO_WORKERS", value = tostring(var.workers) },
        { name = "FOLIO_DRAIN_SECONDS", value = tostring(var.drain_seconds) },
        { name = "FOLIO_SHUTDOWN_GRACE_SECONDS", value = tostring(var.shutdown_grace_seconds) },
        { name = "FOLIO_BUILD_COMMIT", value = var.build_commit },
        { name = "FOLIO_LOG_LEVEL", value = var.log_level },
        { name = "FOLIO_LOG_FORMAT", value = var.log_format },
        { name = "FOLIO_API_URL", value = local.api_internal_url },
        { name = "FOLIO_PROMETHEUS_URL", value = local.prometheus_internal_url },
        # Behind the ALB: the client is the last X-Forwarded-For hop, the scheme is
        # X-Forwarded-Proto (for the RUM rate limit and the beacons' origin check).
        { name = "FOLIO_TRUST_FORWARDED_FOR", value = "true" },
      ]
      secrets = [
        { name = "FOLIO_METRICS_TOKEN", valueFrom = var.metrics_token_secret_arn },
      ]
      logConfiguration = {
        logDriver = "awslogs"
        options = {
          "awslogs-group"         = aws_cloudwatch_log_group.this["web"].name
          "awslogs-region"        = data.aws_region.current.name
          "awslogs-stream-prefix" = "web"
          "mode"                  = "non-blocking"
          "max-buffer-size"       = "4m"
        }
      }
    }
  }

  # Optional settings, and the user's extra variables, appended to the lists above.
  extra_environment = {
    api = [for key, value in var.api_environment : { name = key, value = value }]
    web = concat(
      length(var.site_origins) > 0 ? [{ name = "FOLIO_SITE_ORIGINS", value = jsonencode(var.site_origins) }] : [],
      [for key, value in var.web_environment : { name = key, value = value }],
    )
  }
  extra_secrets = {
    api = []
    web = var.status_token_secret_arn == null ? [] : [{ name = "FOLIO_STATUS_TOKEN", valueFrom = var.status_token_secret_arn }]
  }

  task_sizes = {
    api = { cpu = var.api_cpu, memory = var.api_memory, desired_count = var.api_desired_count }
    web = { cpu = var.web_cpu, memory = var.web_memory, desired_count = var.web_desired_count }
  }

  tags = merge({ "app" = "folio", "module" = "folio-ecs" }, var.tags)
}
