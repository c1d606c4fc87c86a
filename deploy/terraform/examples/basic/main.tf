# folio on ECS Fargate in an existing VPC: the folio-ecs module with the network and the
# secrets passed in. See terraform.tfvars.example, then:
#
#   terraform init && terraform plan -out folio.plan && terraform apply folio.plan

terraform {
  required_version = ">= 1.5"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.0"
    }
  }
}

provider "aws" {
  region = var.region

  default_tags {
    tags = var.tags
  }
}

module "folio" {
  source = "../../modules/folio-ecs"

  name = var.name

  vpc_id             = var.vpc_id
  public_subnet_ids  = var.public_subnet_ids
  private_subnet_ids = var.private_subnet_ids
  certificate_arn    = var.certificate_arn

  # One image, two build targets, pushed as <tag>-api and <tag>-web.
  api_image    = "${var.image_repository}:${var.image_tag}-api"
  web_image    = "${var.image_repository}:${var.image_tag}-web"
  build_commit = var.build_commit

  database_url_secret_arn  = var.database_url_secret_arn
  api_token_secret_arn     = var.api_token_secret_arn
  metrics_token_secret_arn = var.metrics_token_secret_arn

  prometheus_ui_cidr_blocks = var.prometheus_ui_cidr_blocks
  remote_write_url          = var.remote_write_url

  # The repository's Alertmanager config and templates; its webhook URLs are placeholders
  # to replace, and secrets go in alertmanager_secret_files (written to
  # /etc/alertmanager/secrets/<name>). The same networks as Prometheus may open its UI.
  alertmanager_config = file("${local.alertmanager_dir}/alertmanager.yml")
  alertmanager_templates = {
    for name in fileset("${local.alertmanager_dir}/templates", "*.tmpl") :
    name => file("${local.alertmanager_dir}/templates/${name}")
  }
  alertmanager_secret_files   = var.alertmanager_secret_files
  alertmanager_ui_cidr_blocks = var.prometheus_ui_cidr_blocks
}

locals {
  alertmanager_dir = "${path.module}/../../../alertmanager"
}

# folio-api's tasks may reach the database (its security group is outside the module).
resource "aws_vpc_security_group_ingress_rule" "database_from_api" {
  count = var.database_security_group_id == null ? 0 : 1

  security_group_id            = var.database_security_group_id
  description                  = "folio-api tasks"
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
  referenced_security_group_id = module.folio.security_group_ids.api
}
