variable "region" {
  description = "AWS region to deploy to."
  type        = string
}

variable "name" {
  description = "Prefix of every resource name."
  type        = string
  default     = "folio"
}

variable "vpc_id" {
  description = "An existing VPC."
  type        = string
}

variable "public_subnet_ids" {
  description = "Public subnets (two AZs or more) for the public ALB."
  type        = list(string)
}

variable "private_subnet_ids" {
  description = "Private subnets (two AZs or more, with a NAT gateway or VPC endpoints) for the tasks and the internal ALB."
  type        = list(string)
}

variable "certificate_arn" {
  description = "ACM certificate for HTTPS; null serves plain HTTP."
  type        = string
  default     = null
}

variable "image_repository" {
  description = "ECR repository of the folio image, e.g. 123456789012.dkr.ecr.eu-west-1.amazonaws.com/folio."
  type        = string
}

variable "image_tag" {
  description = "Release tag; the images are <repository>:<tag>-api and <repository>:<tag>-web."
  type        = string
}

variable "build_commit" {
  description = "The git commit the images were built from."
  type        = string
  default     = "unknown"
}

variable "database_url_secret_arn" {
  description = "SSM parameter (SecureString) or Secrets Manager ARN holding FOLIO_DATABASE_URL."
  type        = string
}

variable "api_token_secret_arn" {
  description = "SSM parameter or Secrets Manager ARN holding FOLIO_API_TOKEN."
  type        = string
}

variable "metrics_token_secret_arn" {
  description = "SSM parameter or Secrets Manager ARN holding FOLIO_METRICS_TOKEN."
  type        = string
}

variable "database_security_group_id" {
  description = "Security group of the PostgreSQL database; null to manage database access elsewhere."
  type        = string
  default     = null
}

variable "prometheus_ui_cidr_blocks" {
  description = "Networks (VPN) that may open Prometheus on the internal ALB, port 9090."
  type        = list(string)
  default     = []
}

variable "alertmanager_secret_files" {
  description = "Secrets alertmanager.yml reads from /etc/alertmanager/secrets/<name>: name => SSM parameter or Secrets Manager ARN."
  type        = map(string)
  default     = {}
}

variable "remote_write_url" {
  description = "Optional remote-write endpoint (Thanos Receive, Mimir, VictoriaMetrics cluster)."
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags for every resource (provider default_tags)."
  type        = map(string)
  default     = {}
}
