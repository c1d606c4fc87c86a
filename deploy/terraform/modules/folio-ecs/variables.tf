# Inputs of the folio-ecs module. Only the network, the two image URIs and the three
# secret ARNs are required; everything else has a default that works for a small site.

# ---------------------------------------------------------------------------
# Naming and network
# ---------------------------------------------------------------------------

variable "name" {
  description = "Prefix of every resource name (cluster, services, ALBs, target groups, roles, log groups)."
  type        = string
  default     = "folio"

  validation {
    # Target group names are "<name>-<service>" and may not exceed 32 characters.
    condition     = can(regex("^[a-z][a-z0-9-]{0,19}$", var.name))
    error_message = "name must be 1-20 characters: lower-case letters, digits and hyphens, starting with a letter."
  }
}

variable "vpc_id" {
  description = "The VPC the load balancers, tasks and security groups go in. The module never creates a VPC."
  type        = string
}

variable "public_subnet_ids" {
  description = "Subnets (two or more, in different AZs) for the internet-facing ALB."
  type        = list(string)

  validation {
    condition     = length(var.public_subnet_ids) >= 2
    error_message = "An ALB needs subnets in at least two availability zones."
  }
}

variable "private_subnet_ids" {
  description = "Subnets (two or more) for the tasks and the internal ALB. They need a route to ECR, CloudWatch Logs and SSM/Secrets Manager (a NAT gateway or VPC endpoints), and to the database."
  type        = list(string)

  validation {
    condition     = length(var.private_subnet_ids) >= 2
    error_message = "The internal ALB needs subnets in at least two availability zones."
  }
}

variable "assign_public_ip" {
  description = "Give tasks a public IP. Only for tasks in public subnets without a NAT gateway; leave false for private subnets."
  type        = bool
  default     = false
}

variable "public_ingress_cidr_blocks" {
  description = "Who may reach the public ALB (ports 80 and 443)."
  type        = list(string)
  default     = ["0.0.0.0/0"]
}

variable "certificate_arn" {
  description = "ACM certificate for HTTPS on the public ALB. null: the site is served on plain HTTP port 80. Set: port 443 serves it and port 80 redirects."
  type        = string
  default     = null
}

variable "ssl_policy" {
  description = "TLS policy of the HTTPS listener (used only with certificate_arn)."
  type        = string
  default     = "ELBSecurityPolicy-TLS13-1-2-2021-06"
}

variable "api_ingress_cidr_blocks" {
  description = "Extra CIDR blocks (a VPN, a bastion) that may call folio-api on the internal ALB, port 3001. folio-web's tasks always may."
  type        = list(string)
  default     = []
}

variable "prometheus_ui_cidr_blocks" {
  description = "CIDR blocks that may open Prometheus on the internal ALB, port 9090. folio-web's tasks always may (its /status page reads Prometheus)."
  type        = list(string)
  default     = []
}

variable "alb_deletion_protection" {
  description = "Turn on deletion protection for both ALBs."
  type        = bool
  default     = false
}

variable "tags" {
  description = "Tags added to every resource that takes tags."
  type        = map(string)
  default     = {}
  nullable    = false
}

# ---------------------------------------------------------------------------
# Images and task sizes
# ---------------------------------------------------------------------------

variable "api_image" {
  description = "Image URI of folio-api: the `api` build target of deploy/docker/Dockerfile, e.g. 123456789012.dkr.ecr.eu-west-1.amazonaws.com/folio:1.4.0-api. Its default command must serve on 0.0.0.0 with the CLI's default port."
  type        = string
}

variable "web_image" {
  description = "Image URI of folio-web: the `web` build target of the same Dockerfile, e.g. ...amazonaws.com/folio:1.4.0-web."
  type        = string
}

variable "build_commit" {
  description = "The git commit of the images; becomes FOLIO_BUILD_COMMIT, the commit label of folio_build_info."
  type        = string
  default     = "unknown"
}

variable "cpu_architecture" {
  description = "CPU architecture of the tasks: X86_64 or ARM64 (Graviton). Must match the images."
  type        = string
  default     = "X86_64"

  validation {
    condition     = contains(["X86_64", "ARM64"], var.cpu_architecture)
    error_message = "cpu_architecture must be X86_64 or ARM64."
  }
}

variable "api_cpu" {
  description = "Fargate CPU units of a folio-api task (1024 = 1 vCPU)."
  type        = number
  default     = 512
}

variable "api_memory" {
  description = "Fargate memory (MiB) of a folio-api task; must be valid for api_cpu."
  type        = number
  default     = 1024
}

variable "web_cpu" {
  description = "Fargate CPU units of a folio-web task."
  type        = number
  default     = 512
}

variable "web_memory" {
  description = "Fargate memory (MiB) of a folio-web task."
  type        = number
  default     = 1024
}

variable "api_desired_count" {
  description = "Running folio-api tasks. Two or more keep the API up when a task or an AZ fails."
  type        = number
  default     = 2
}

variable "web_desired_count" {
  description = "Running folio-web tasks."
  type        = number
  default     = 2
}

# ---------------------------------------------------------------------------
# Application settings (FOLIO_* environment)
# ---------------------------------------------------------------------------

variable "workers" {
  description = "FOLIO_WORKERS: worker processes per task (both services). About one per vCPU."
  type        = number
  default     = 2

  validation {
    condition     = var.workers >= 1 && floor(var.workers) == var.workers
    error_message = "workers must be a whole number, at least 1."
  }
}

variable "drain_seconds" {
  description = "FOLIO_DRAIN_SECONDS: after SIGTERM, how long /api/health/ready answers 503 before the listener closes. Must be shorter than deregistration_delay_seconds and at least the time the ALB needs to see a target unhealthy (2 checks x 5 s)."
  type        = number
  default     = 10

  validation {
    condition     = var.drain_seconds >= 0
    error_message = "drain_seconds cannot be negative."
  }
}

variable "shutdown_grace_seconds" {
  description = "FOLIO_SHUTDOWN_GRACE_SECONDS of both services: how long in-flight requests may run once the listener has closed."
  type        = number
  default     = 10

  validation {
    condition     = var.shutdown_grace_seconds >= 0
    error_message = "shutdown_grace_seconds cannot be negative."
  }
}

variable "stop_timeout_margin_seconds" {
  description = "Added to drain + grace to form the containers' stopTimeout (time between SIGTERM and SIGKILL); the sum may not exceed Fargate's 120 s."
  type        = number
  default     = 5
}

variable "deregistration_delay_seconds" {
  description = "How long the ALB lets in-flight requests finish on a target being deregistered. Must exceed drain_seconds."
  type        = number
  default     = 30

  validation {
    condition     = var.deregistration_delay_seconds >= 0 && var.deregistration_delay_seconds <= 3600
    error_message = "deregistration_delay_seconds must be between 0 and 3600."
  }
}

variable "health_check_grace_period_seconds" {
  description = "How long ECS ignores failing ALB health checks of a new task (folio-api applies migrations before it listens)."
  type        = number
  default     = 60
}

variable "log_level" {
  description = "FOLIO_LOG_LEVEL of both services."
  type        = string
  default     = "info"

  validation {
    condition     = contains(["critical", "error", "warning", "info", "debug", "trace"], var.log_level)
    error_message = "log_level must be one of critical, error, warning, info, debug, trace."
  }
}

variable "log_format" {
  description = "FOLIO_LOG_FORMAT of both services: json (one object per line, with the route and trace id that CloudWatch queries can join to exemplars) or text."
  type        = string
  default     = "json"

  validation {
    condition     = contains(["json", "text"], var.log_format)
    error_message = "log_format must be json or text."
  }
}

variable "site_origins" {
  description = "FOLIO_SITE_ORIGINS of folio-web: origins allowed to send browser beacons, e.g. [\"https://folio.example\"]. Empty: the site's own origin, taken from the ALB's X-Forwarded-Proto and the Host header."
  type        = list(string)
  default     = []
}

variable "api_environment" {
  description = "Extra environment variables for folio-api (name => value), e.g. { FOLIO_MAX_BODY_BYTES = \"4194304\" }. Not for secrets."
  type        = map(string)
  default     = {}
  nullable    = false
}

variable "web_environment" {
  description = "Extra environment variables for folio-web (name => value). Not for secrets."
  type        = map(string)
  default     = {}
  nullable    = false
}

# ---------------------------------------------------------------------------
# Secrets: ARNs of SSM parameters (SecureString) or Secrets Manager secrets
# ---------------------------------------------------------------------------

variable "database_url_secret_arn" {
  description = "FOLIO_DATABASE_URL of folio-api, e.g. postgresql://folio:...@db.internal:5432/folio. ARN of an SSM parameter or a Secrets Manager secret (optionally with a JSON key: arn:...:secret:name-AbCdEf:url::)."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:(ssm|secretsmanager):", var.database_url_secret_arn))
    error_message = "database_url_secret_arn must be the ARN of an SSM parameter or a Secrets Manager secret."
  }
}

variable "api_token_secret_arn" {
  description = "FOLIO_API_TOKEN of folio-api: the bearer token writes need."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:(ssm|secretsmanager):", var.api_token_secret_arn))
    error_message = "api_token_secret_arn must be the ARN of an SSM parameter or a Secrets Manager secret."
  }
}

variable "metrics_token_secret_arn" {
  description = "FOLIO_METRICS_TOKEN of both services, and the bearer token Prometheus scrapes them with. Required: without it folio-web's /api/metrics would be open on the public ALB."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:(ssm|secretsmanager):", var.metrics_token_secret_arn))
    error_message = "metrics_token_secret_arn must be the ARN of an SSM parameter or a Secrets Manager secret."
  }
}

variable "status_token_secret_arn" {
  description = "Optional FOLIO_STATUS_TOKEN of folio-web (protects /status). null: /status is open."
  type        = string
  default     = null

  validation {
    condition     = var.status_token_secret_arn == null || can(regex("^arn:aws[a-z-]*:(ssm|secretsmanager):", var.status_token_secret_arn))
    error_message = "status_token_secret_arn must be null or the ARN of an SSM parameter or a Secrets Manager secret."
  }
}

variable "secrets_kms_key_arns" {
  description = "Customer-managed KMS keys that encrypt the secrets above; the execution role gets kms:Decrypt on them. Not needed for the AWS-managed keys."
  type        = list(string)
  default     = []
}

# ---------------------------------------------------------------------------
# Cluster and logs
# ---------------------------------------------------------------------------

variable "container_insights" {
  description = "CloudWatch Container Insights for the cluster: enabled, enhanced or disabled."
  type        = string
  default     = "enabled"

  validation {
    condition     = contains(["enabled", "enhanced", "disabled"], var.container_insights)
    error_message = "container_insights must be enabled, enhanced or disabled."
  }
}

variable "log_retention_days" {
  description = "Retention of the CloudWatch log groups (one per service)."
  type        = number
  default     = 30

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a retention CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, ... 3653)."
  }
}

# ---------------------------------------------------------------------------
# Prometheus
# ---------------------------------------------------------------------------

variable "prometheus_image" {
  description = "Prometheus image: 3.8 or later (aws_sd_configs with role ecs), busybox variant (the default tags; not -distroless: the start command needs /bin/sh). 3.9.0 is unsuitable (relabel keep/drop broken, fixed in 3.9.1)."
  type        = string
  default     = "quay.io/prometheus/prometheus:v3.8.1"
}

variable "prometheus_cpu" {
  description = "Fargate CPU units of the Prometheus task."
  type        = number
  default     = 512
}

variable "prometheus_memory" {
  description = "Fargate memory (MiB) of the Prometheus task."
  type        = number
  default     = 2048
}

variable "prometheus_ephemeral_storage_gib" {
  description = "Fargate ephemeral storage of the Prometheus task (21-200 GiB); the TSDB lives there and is lost when the task is replaced."
  type        = number
  default     = 30

  validation {
    condition     = var.prometheus_ephemeral_storage_gib >= 21 && var.prometheus_ephemeral_storage_gib <= 200
    error_message = "prometheus_ephemeral_storage_gib must be between 21 and 200."
  }
}

variable "prometheus_retention" {
  description = "--storage.tsdb.retention.time of Prometheus. The size limit is set to 80 % of the ephemeral storage as well."
  type        = string
  default     = "15d"
}

variable "scrape_interval" {
  description = "Scrape and rule evaluation interval."
  type        = string
  default     = "15s"
}

variable "sd_refresh_interval" {
  description = "How often Prometheus lists the ECS tasks. Every refresh costs a few ECS API calls (throttled at 20/s per account)."
  type        = string
  default     = "30s"
}


variable "remote_write_url" {
  description = "Remote-write endpoint of a horizontally scalable store (Thanos Receive, Mimir, VictoriaMetrics cluster), e.g. http://vminsert.internal:8480/insert/0/prometheus/api/v1/write. null: no remote_write."
  type        = string
  default     = null
}

variable "remote_write_bearer_token_secret_arn" {
  description = "Optional bearer token for remote_write (SSM parameter or Secrets Manager ARN)."
  type        = string
  default     = null

  validation {
    condition     = var.remote_write_bearer_token_secret_arn == null || can(regex("^arn:aws[a-z-]*:(ssm|secretsmanager):", var.remote_write_bearer_token_secret_arn))
    error_message = "remote_write_bearer_token_secret_arn must be null or the ARN of an SSM parameter or a Secrets Manager secret."
  }
}

variable "remote_write_headers" {
  description = "Extra HTTP headers for remote_write, e.g. { \"X-Scope-OrgID\" = \"folio\" } for Mimir or Thanos Receive tenants."
  type        = map(string)
  default     = {}
  nullable    = false
}

variable "remote_write_queue_config" {
  description = "queue_config of remote_write. The defaults are Prometheus's own, written out so they are visible and tunable."
  type = object({
    capacity             = optional(number, 10000)
    min_shards           = optional(number, 1)
    max_shards           = optional(number, 50)
    max_samples_per_send = optional(number, 2000)
    batch_send_deadline  = optional(string, "5s")
    min_backoff          = optional(string, "30ms")
    max_backoff          = optional(string, "5s")
  })
  default  = {}
  nullable = false
}

# ---------------------------------------------------------------------------
# Alertmanager
# ---------------------------------------------------------------------------

variable "alertmanager_enabled" {
  description = "Run an Alertmanager service in the cluster (alertmanager.tf) and send Prometheus's alerts to it; Prometheus finds its task through ECS service discovery. false: alerts go to alertmanager_targets, or, if that is empty, nowhere (shown in the Prometheus UI only)."
  type        = bool
  default     = true
  nullable    = false
}

variable "alertmanager_config" {
  description = "alertmanager.yml of the module's Alertmanager, as text, e.g. file(\"../../../alertmanager/alertmanager.yml\") from deploy/terraform/examples/basic. Required when alertmanager_enabled. It is written to /etc/alertmanager/alertmanager.yml; put no secrets in it (see alertmanager_secret_files)."
  type        = string
  default     = null
}

variable "alertmanager_templates" {
  description = "Notification templates, file name => contents, written to /etc/alertmanager/templates/<name> (alertmanager.yml loads them with `templates: [templates/*.tmpl]`)."
  type        = map(string)
  default     = {}
  nullable    = false

  validation {
    condition     = alltrue([for name in keys(var.alertmanager_templates) : can(regex("^[A-Za-z0-9][A-Za-z0-9._-]*$", name))])
    error_message = "alertmanager_templates keys must be plain file names (letters, digits, '.', '_', '-')."
  }
}

variable "alertmanager_secret_files" {
  description = "Secrets alertmanager.yml reads from files (*_file settings: api_url_file, routing_key_file, auth_password_file, credentials_file), file name => SSM parameter or Secrets Manager ARN. ECS injects each at start and it is written to /etc/alertmanager/secrets/<name>, mode 0600; the value is never in the task definition or the state."
  type        = map(string)
  default     = {}
  nullable    = false

  validation {
    condition     = alltrue([for name in keys(var.alertmanager_secret_files) : can(regex("^[A-Za-z0-9][A-Za-z0-9._-]*$", name))])
    error_message = "alertmanager_secret_files keys must be plain file names (letters, digits, '.', '_', '-')."
  }
  validation {
    condition     = alltrue([for arn in values(var.alertmanager_secret_files) : can(regex("^arn:aws[a-z-]*:(ssm|secretsmanager):", arn))])
    error_message = "alertmanager_secret_files values must be ARNs of SSM parameters or Secrets Manager secrets."
  }
}

variable "alertmanager_targets" {
  description = "host:port of Alertmanagers run elsewhere, used with alertmanager_enabled = false (both at once is refused: every alert would be notified twice). Empty and not enabled: alerts are evaluated and shown in the Prometheus UI only."
  type        = list(string)
  default     = []
  nullable    = false
}

variable "alertmanager_image" {
  description = "Alertmanager image: the busybox-based official one (the start command needs /bin/sh); the same image as Docker Hub's prom/alertmanager."
  type        = string
  default     = "quay.io/prometheus/alertmanager:v0.28.1"
}

variable "alertmanager_cpu" {
  description = "Fargate CPU units of the Alertmanager task."
  type        = number
  default     = 256
}

variable "alertmanager_memory" {
  description = "Fargate memory (MiB) of the Alertmanager task."
  type        = number
  default     = 512
}

variable "alertmanager_ui_cidr_blocks" {
  description = "CIDR blocks that may open Alertmanager's UI and API (silences, amtool) on the internal ALB, port 9093."
  type        = list(string)
  default     = []
}
