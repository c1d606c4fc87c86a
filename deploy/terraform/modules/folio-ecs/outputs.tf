output "alb_dns_name" {
  description = "DNS name of the public ALB (folio-web). Point the site's DNS record (alias) here."
  value       = aws_lb.public.dns_name
}

output "alb_zone_id" {
  description = "Route 53 zone ID of the public ALB, for an alias record."
  value       = aws_lb.public.zone_id
}

output "internal_alb_dns_name" {
  description = "DNS name of the internal ALB: folio-api on port 3001, Prometheus on 9090."
  value       = aws_lb.internal.dns_name
}

output "api_url" {
  description = "folio-api's address inside the VPC (folio-web's FOLIO_API_URL)."
  value       = local.api_internal_url
}

output "prometheus_url" {
  description = "Prometheus's address inside the VPC (folio-web's FOLIO_PROMETHEUS_URL)."
  value       = local.prometheus_internal_url
}

output "alertmanager_url" {
  description = "Alertmanager's UI and API inside the VPC (from alertmanager_ui_cidr_blocks; amtool --alertmanager.url). null with alertmanager_enabled = false."
  value       = var.alertmanager_enabled ? local.alertmanager_internal_url : null
}

output "cluster_name" {
  description = "Name of the ECS cluster."
  value       = aws_ecs_cluster.this.name
}

output "cluster_arn" {
  description = "ARN of the ECS cluster."
  value       = aws_ecs_cluster.this.arn
}

output "service_names" {
  description = "ECS service names: api, web, prometheus, alertmanager (null when not enabled)."
  value = {
    api          = aws_ecs_service.app["api"].name
    web          = aws_ecs_service.app["web"].name
    prometheus   = aws_ecs_service.prometheus.name
    alertmanager = one(aws_ecs_service.alertmanager[*].name)
  }
}

output "log_groups" {
  description = "CloudWatch log group of each service: api, web, prometheus, alertmanager (when enabled)."
  value       = { for key, group in aws_cloudwatch_log_group.this : key => group.name }
}

output "security_group_ids" {
  description = "Security groups: api and web tasks (allow api's to reach the database), prometheus, alertmanager (null when not enabled), and both ALBs."
  value = {
    api          = aws_security_group.task["api"].id
    web          = aws_security_group.task["web"].id
    prometheus   = aws_security_group.prometheus.id
    alertmanager = one(aws_security_group.alertmanager[*].id)
    public_alb   = aws_security_group.public_alb.id
    internal_alb = aws_security_group.internal_alb.id
  }
}

output "task_role_names" {
  description = "IAM task roles: app (folio-api and folio-web) and prometheus, to attach further policies to."
  value = {
    app        = aws_iam_role.app_task.name
    prometheus = aws_iam_role.prometheus_task.name
  }
}

output "execution_role_arn" {
  description = "The execution role (image pulls, logs, and the secrets given)."
  value       = aws_iam_role.execution.arn
}

output "stop_timeout_seconds" {
  description = "stopTimeout of the folio containers: drain + grace + margin."
  value       = local.stop_timeout
}
