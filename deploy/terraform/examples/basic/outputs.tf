output "site_url" {
  description = "The site (point a DNS alias at the ALB for a real name)."
  value       = "${var.certificate_arn == null ? "http" : "https"}://${module.folio.alb_dns_name}"
}

output "alb_dns_name" {
  description = "DNS name of the public ALB."
  value       = module.folio.alb_dns_name
}

output "api_url" {
  description = "folio-api inside the VPC."
  value       = module.folio.api_url
}

output "prometheus_url" {
  description = "Prometheus inside the VPC (from prometheus_ui_cidr_blocks)."
  value       = module.folio.prometheus_url
}

output "alertmanager_url" {
  description = "Alertmanager inside the VPC (from prometheus_ui_cidr_blocks): amtool --alertmanager.url=..."
  value       = module.folio.alertmanager_url
}

output "service_names" {
  description = "ECS service names."
  value       = module.folio.service_names
}

output "log_groups" {
  description = "CloudWatch log groups."
  value       = module.folio.log_groups
}
