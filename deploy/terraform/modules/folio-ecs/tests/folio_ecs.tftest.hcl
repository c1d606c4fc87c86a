# Plan-and-apply checks of the module against a mocked AWS provider (no account, no
# network calls; the provider binary is still needed for its schema):
#
#   cd deploy/terraform/modules/folio-ecs
#   terraform init -backend=false && terraform test
#
# (-plugin-dir=<mirror> on init where registry.terraform.io is out of reach.)
# tests/deploy/test_terraform_cli.py runs this in `make test`, with the provider from a
# local mirror; tests/deploy/test_terraform.py checks the literals against the apps. These
# runs check that the expressions evaluate, what Prometheus's alerting block names, and
# that the preconditions refuse bad settings.

mock_provider "aws" {
  mock_data "aws_region" {
    defaults = { name = "eu-west-1" }
  }
  mock_data "aws_caller_identity" {
    defaults = { account_id = "123456789012" }
  }
  mock_data "aws_partition" {
    defaults = { partition = "aws" }
  }
  mock_data "aws_iam_policy_document" {
    defaults = { json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}" }
  }
  mock_resource "aws_ecs_cluster" {
    defaults = { arn = "arn:aws:ecs:eu-west-1:123456789012:cluster/folio" }
  }
  mock_resource "aws_lb" {
    defaults = {
      arn      = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/folio/0123456789abcdef"
      dns_name = "internal-folio-internal-1.eu-west-1.elb.amazonaws.com"
    }
  }
  mock_resource "aws_lb_target_group" {
    defaults = { arn = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/folio/0123456789abcdef" }
  }
  mock_resource "aws_lb_listener" {
    defaults = { arn = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener/app/folio/0123456789abcdef/0123456789abcdef" }
  }
  mock_resource "aws_iam_role" {
    defaults = { arn = "arn:aws:iam::123456789012:role/folio" }
  }
  mock_resource "aws_ecs_task_definition" {
    defaults = { arn = "arn:aws:ecs:eu-west-1:123456789012:task-definition/folio-api:1" }
  }
}

variables {
  vpc_id                   = "vpc-0123456789abcdef0"
  public_subnet_ids        = ["subnet-a", "subnet-b"]
  private_subnet_ids       = ["subnet-c", "subnet-d"]
  api_image                = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/folio:1.0.0-api"
  web_image                = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/folio:1.0.0-web"
  database_url_secret_arn  = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:folio/db-AbCdEf:url::"
  api_token_secret_arn     = "arn:aws:ssm:eu-west-1:123456789012:parameter/folio/api-token"
  metrics_token_secret_arn = "arn:aws:ssm:eu-west-1:123456789012:parameter/folio/metrics-token"
  alertmanager_config      = <<-EOT
    route:
      receiver: folio-ticket
    receivers:
      - name: folio-ticket
  EOT
}

run "defaults" {
  command = apply

  assert {
    condition     = jsondecode(aws_ecs_task_definition.app["api"].container_definitions)[0].portMappings[0].containerPort == 3001
    error_message = "api port"
  }
  assert {
    condition     = contains([for e in jsondecode(aws_ecs_task_definition.app["web"].container_definitions)[0].environment : "${e.name}=${e.value}"], "FOLIO_API_URL=http://internal-folio-internal-1.eu-west-1.elb.amazonaws.com:3001")
    error_message = "web api url"
  }
  assert {
    condition     = jsondecode(aws_ecs_task_definition.app["api"].container_definitions)[0].stopTimeout == 25
    error_message = "stop timeout"
  }
  assert {
    condition     = strcontains(local.prometheus_config, "role: ecs") && !strcontains(local.prometheus_config, "remote_write:")
    error_message = "prometheus config"
  }
  assert {
    condition     = yamldecode(local.prometheus_config).global.scrape_native_histograms == true && yamldecode(local.prometheus_config).global.always_scrape_classic_histograms == true
    error_message = "Prometheus does not scrape native histograms with the classic series kept: ${jsonencode(yamldecode(local.prometheus_config).global)}"
  }
  assert {
    condition     = one(local.secretsmanager_arns) == "arn:aws:secretsmanager:eu-west-1:123456789012:secret:folio/db-AbCdEf"
    error_message = "secrets manager arn trimming: ${jsonencode(local.secretsmanager_arns)}"
  }
  assert {
    condition     = length(aws_lb_listener.https) == 0 && aws_lb_listener.http.default_action[0].type == "forward"
    error_message = "http listener"
  }
}

run "https_remote_write_and_optional_secrets" {
  command = apply

  variables {
    certificate_arn                      = "arn:aws:acm:eu-west-1:123456789012:certificate/x"
    remote_write_url                     = "http://vminsert:8480/insert/0/prometheus/api/v1/write"
    remote_write_bearer_token_secret_arn = "arn:aws:ssm:eu-west-1:123456789012:parameter/folio/rw"
    remote_write_headers                 = { "X-Scope-OrgID" = "folio" }
    status_token_secret_arn              = "arn:aws:ssm:eu-west-1:123456789012:parameter/folio/status"
    site_origins                         = ["https://folio.example"]
    alertmanager_enabled                 = false
  }

  assert {
    condition     = strcontains(local.prometheus_config, "remote_write:") && strcontains(local.prometheus_config, "max_shards: 50")
    error_message = "remote write"
  }
  assert {
    condition     = !contains(keys(yamldecode(local.prometheus_config)), "alerting") && length(aws_ecs_service.alertmanager) == 0
    error_message = "an alerting block or an Alertmanager service, with no Alertmanager enabled or given"
  }
  assert {
    condition     = length(aws_lb_listener.https) == 1 && aws_lb_listener.http.default_action[0].type == "redirect"
    error_message = "https"
  }
  assert {
    condition     = contains([for s in jsondecode(aws_ecs_task_definition.app["web"].container_definitions)[0].secrets : s.name], "FOLIO_STATUS_TOKEN")
    error_message = "status token"
  }
  assert {
    condition     = contains([for e in jsondecode(aws_ecs_task_definition.app["web"].container_definitions)[0].environment : e.value], "[\"https://folio.example\"]")
    error_message = "site origins"
  }
  assert {
    condition     = length(local.ssm_parameter_arns) == 4
    error_message = "ssm arns ${jsonencode(local.ssm_parameter_arns)}"
  }
}

# Alertmanager in the module (the default): its service runs, and Prometheus finds it by
# ECS service discovery in this cluster, keeping the RUNNING tasks of that service.
run "alertmanager_in_the_module" {
  command = apply

  variables {
    alertmanager_templates      = { "folio.tmpl" = "{{ define \"folio.title\" }}x{{ end }}" }
    alertmanager_secret_files   = { "slack-webhook-url" = "arn:aws:ssm:eu-west-1:123456789012:parameter/folio/slack" }
    alertmanager_ui_cidr_blocks = ["10.8.0.0/16"]
  }

  assert {
    condition     = length(aws_ecs_service.alertmanager) == 1 && aws_ecs_service.alertmanager[0].name == "folio-alertmanager"
    error_message = "no Alertmanager service"
  }
  assert {
    condition = yamldecode(local.prometheus_config).alerting.alertmanagers == [{
      aws_sd_configs = [{
        role             = "ecs"
        region           = "eu-west-1"
        clusters         = [aws_ecs_cluster.this.arn]
        port             = 9093
        refresh_interval = "30s"
      }]
      relabel_configs = [{
        source_labels = ["__meta_ecs_service", "__meta_ecs_last_status"]
        regex         = "${aws_ecs_service.alertmanager[0].name};RUNNING"
        action        = "keep"
      }]
    }]
    error_message = "Prometheus's alerting block does not name the Alertmanager service: ${jsonencode(try(yamldecode(local.prometheus_config).alerting, null))}"
  }
  assert {
    condition     = jsondecode(aws_ecs_task_definition.alertmanager[0].container_definitions)[0].portMappings[0].containerPort == 9093 && one(aws_ecs_service.alertmanager[0].load_balancer).container_port == 9093
    error_message = "Alertmanager port"
  }
  assert {
    condition = alltrue([
      for line in [
        "printf '%s' \"$ALERTMANAGER_FILE_ALERTMANAGER_YML\" > /etc/alertmanager/alertmanager.yml",
        "printf '%s' \"$ALERTMANAGER_TEMPLATE_FOLIO_TMPL\" > /etc/alertmanager/templates/folio.tmpl",
        "printf '%s' \"$ALERTMANAGER_SECRET_SLACK_WEBHOOK_URL\" > /etc/alertmanager/secrets/slack-webhook-url",
      ] : strcontains(jsondecode(aws_ecs_task_definition.alertmanager[0].container_definitions)[0].command[0], line)
    ])
    error_message = "start command: ${jsondecode(aws_ecs_task_definition.alertmanager[0].container_definitions)[0].command[0]}"
  }
  assert {
    condition     = { for e in jsondecode(aws_ecs_task_definition.alertmanager[0].container_definitions)[0].environment : e.name => e.value }["ALERTMANAGER_FILE_ALERTMANAGER_YML"] == var.alertmanager_config
    error_message = "alertmanager.yml is not passed as is"
  }
  assert {
    condition     = jsondecode(aws_ecs_task_definition.alertmanager[0].container_definitions)[0].secrets == [{ name = "ALERTMANAGER_SECRET_SLACK_WEBHOOK_URL", valueFrom = "arn:aws:ssm:eu-west-1:123456789012:parameter/folio/slack" }]
    error_message = "the secret is not an ECS secret"
  }
  assert {
    condition     = contains(local.ssm_parameter_arns, "arn:aws:ssm:eu-west-1:123456789012:parameter/folio/slack")
    error_message = "the execution role may not read the Alertmanager secret"
  }
  assert {
    condition     = length(aws_lb_listener.alertmanager) == 1 && contains(keys(aws_cloudwatch_log_group.this), "alertmanager") && length(aws_vpc_security_group_ingress_rule.internal_alb_alertmanager_cidrs) == 1
    error_message = "listener, log group or UI access"
  }
}

# Alertmanager run elsewhere: no service in the module, and Prometheus's alerting block
# lists the targets given.
run "alertmanager_elsewhere" {
  command = apply

  variables {
    alertmanager_enabled = false
    alertmanager_config  = null
    alertmanager_targets = ["am-1.internal:9093", "am-2.internal:9093"]
  }

  assert {
    condition     = length(aws_ecs_service.alertmanager) == 0 && length(aws_ecs_task_definition.alertmanager) == 0 && length(aws_lb_listener.alertmanager) == 0
    error_message = "an Alertmanager service although alertmanager_enabled = false"
  }
  assert {
    condition     = yamldecode(local.prometheus_config).alerting.alertmanagers == [{ static_configs = [{ targets = ["am-1.internal:9093", "am-2.internal:9093"] }] }]
    error_message = "Prometheus's alerting block does not list the targets: ${jsonencode(try(yamldecode(local.prometheus_config).alerting, null))}"
  }
  assert {
    condition     = !contains(keys(aws_cloudwatch_log_group.this), "alertmanager")
    error_message = "log group"
  }
}

run "alertmanager_without_config_is_refused" {
  command = plan
  variables {
    alertmanager_config = null
  }
  expect_failures = [aws_ecs_task_definition.alertmanager]
}

run "alertmanager_and_external_targets_is_refused" {
  command = plan
  variables {
    alertmanager_targets = ["am:9093"]
  }
  expect_failures = [aws_ecs_service.alertmanager]
}

run "drain_longer_than_deregistration_is_refused" {
  command = plan
  variables {
    drain_seconds = 40
  }
  expect_failures = [aws_lb_target_group.app]
}

run "stop_timeout_over_120_is_refused" {
  command = plan
  variables {
    drain_seconds                = 60
    shutdown_grace_seconds       = 60
    deregistration_delay_seconds = 90
  }
  expect_failures = [aws_ecs_task_definition.app]
}

run "bad_secret_arn_is_refused" {
  command = plan
  variables {
    api_token_secret_arn = "folio/api-token"
  }
  expect_failures = [var.api_token_secret_arn]
}
