# Security groups and load balancers.
#
#   internet --80/443--> public ALB --3000--> folio-web tasks
#   folio-web tasks --3001--> internal ALB --3001--> folio-api tasks
#   folio-web tasks, prometheus_ui_cidr_blocks --9090--> internal ALB --9090--> Prometheus
#   Prometheus --3001/3000 (/api/metrics, per task IP)--> folio-api and folio-web tasks
#   Prometheus --9093 (alerts, per task IP)--> Alertmanager (rules in alertmanager.tf)
#   alertmanager_ui_cidr_blocks --9093--> internal ALB --9093--> Alertmanager
#
# folio-api is never on the public ALB: a path rule for /api/* there would also catch
# folio-web's own /api/metrics, /api/rum and /api/health/ready.

# ---------------------------------------------------------------------------
# Security groups
# ---------------------------------------------------------------------------

resource "aws_security_group" "public_alb" {
  name        = "${var.name}-public-alb"
  description = "folio public ALB: HTTP(S) from the internet to folio-web"
  vpc_id      = var.vpc_id
  tags        = merge(local.tags, { Name = "${var.name}-public-alb" })
}

resource "aws_security_group" "internal_alb" {
  name        = "${var.name}-internal-alb"
  description = "folio internal ALB: folio-api for folio-web, Prometheus UI"
  vpc_id      = var.vpc_id
  tags        = merge(local.tags, { Name = "${var.name}-internal-alb" })
}

resource "aws_security_group" "task" {
  for_each = local.ports

  name        = "${var.name}-${each.key}-tasks"
  description = "folio ${each.key} tasks"
  vpc_id      = var.vpc_id
  tags        = merge(local.tags, { Name = "${var.name}-${each.key}-tasks" })
}

resource "aws_security_group" "prometheus" {
  name        = "${var.name}-prometheus"
  description = "folio Prometheus task"
  vpc_id      = var.vpc_id
  tags        = merge(local.tags, { Name = "${var.name}-prometheus" })
}

# Public ALB: the listeners from the allowed networks, out only to folio-web.
resource "aws_vpc_security_group_ingress_rule" "public_alb" {
  for_each = {
    for pair in setproduct(var.certificate_arn == null ? [80] : [80, 443], var.public_ingress_cidr_blocks) :
    "${pair[0]}-${pair[1]}" => { port = pair[0], cidr = pair[1] }
  }

  security_group_id = aws_security_group.public_alb.id
  description       = "HTTP(S) to the public listeners"
  ip_protocol       = "tcp"
  from_port         = each.value.port
  to_port           = each.value.port
  cidr_ipv4         = each.value.cidr
}

resource "aws_vpc_security_group_egress_rule" "public_alb_to_web" {
  security_group_id            = aws_security_group.public_alb.id
  description                  = "to folio-web tasks"
  ip_protocol                  = "tcp"
  from_port                    = local.ports.web
  to_port                      = local.ports.web
  referenced_security_group_id = aws_security_group.task["web"].id
}

# Internal ALB: folio-api for folio-web (and optional CIDRs), Prometheus for folio-web
# (its /status page) and optional CIDRs.
resource "aws_vpc_security_group_ingress_rule" "internal_alb_from_web" {
  for_each = toset([tostring(local.ports.api), tostring(local.prometheus_port)])

  security_group_id            = aws_security_group.internal_alb.id
  description                  = "folio-web tasks to the internal listener on ${each.key}"
  ip_protocol                  = "tcp"
  from_port                    = tonumber(each.key)
  to_port                      = tonumber(each.key)
  referenced_security_group_id = aws_security_group.task["web"].id
}

resource "aws_vpc_security_group_ingress_rule" "internal_alb_api_cidrs" {
  for_each = toset(var.api_ingress_cidr_blocks)

  security_group_id = aws_security_group.internal_alb.id
  description       = "folio-api from an allowed network"
  ip_protocol       = "tcp"
  from_port         = local.ports.api
  to_port           = local.ports.api
  cidr_ipv4         = each.value
}

resource "aws_vpc_security_group_ingress_rule" "internal_alb_prometheus_cidrs" {
  for_each = toset(var.prometheus_ui_cidr_blocks)

  security_group_id = aws_security_group.internal_alb.id
  description       = "Prometheus UI from an allowed network"
  ip_protocol       = "tcp"
  from_port         = local.prometheus_port
  to_port           = local.prometheus_port
  cidr_ipv4         = each.value
}

resource "aws_vpc_security_group_egress_rule" "internal_alb_to_api" {
  security_group_id            = aws_security_group.internal_alb.id
  description                  = "to folio-api tasks"
  ip_protocol                  = "tcp"
  from_port                    = local.ports.api
  to_port                      = local.ports.api
  referenced_security_group_id = aws_security_group.task["api"].id
}

resource "aws_vpc_security_group_egress_rule" "internal_alb_to_prometheus" {
  security_group_id            = aws_security_group.internal_alb.id
  description                  = "to the Prometheus task"
  ip_protocol                  = "tcp"
  from_port                    = local.prometheus_port
  to_port                      = local.prometheus_port
  referenced_security_group_id = aws_security_group.prometheus.id
}

# Tasks: their port from their ALB and from Prometheus (scrapes); out to anywhere
# (ECR, CloudWatch Logs, SSM, the database, the internal ALB).
resource "aws_vpc_security_group_ingress_rule" "web_from_public_alb" {
  security_group_id            = aws_security_group.task["web"].id
  description                  = "from the public ALB"
  ip_protocol                  = "tcp"
  from_port                    = local.ports.web
  to_port                      = local.ports.web
  referenced_security_group_id = aws_security_group.public_alb.id
}

resource "aws_vpc_security_group_ingress_rule" "api_from_internal_alb" {
  security_group_id            = aws_security_group.task["api"].id
  description                  = "from the internal ALB"
  ip_protocol                  = "tcp"
  from_port                    = local.ports.api
  to_port                      = local.ports.api
  referenced_security_group_id = aws_security_group.internal_alb.id
}

resource "aws_vpc_security_group_ingress_rule" "task_from_prometheus" {
  for_each = local.ports

  security_group_id            = aws_security_group.task[each.key].id
  description                  = "Prometheus scrapes ${local.metrics_path}"
  ip_protocol                  = "tcp"
  from_port                    = local.ports[each.key]
  to_port                      = local.ports[each.key]
  referenced_security_group_id = aws_security_group.prometheus.id
}

resource "aws_vpc_security_group_egress_rule" "task_all" {
  for_each = local.ports

  security_group_id = aws_security_group.task[each.key].id
  description       = "ECR, CloudWatch Logs, SSM/Secrets Manager, the database, the internal ALB"
  ip_protocol       = "-1"
  cidr_ipv4         = "0.0.0.0/0"
}

resource "aws_vpc_security_group_ingress_rule" "prometheus_from_internal_alb" {
  security_group_id            = aws_security_group.prometheus.id
  description                  = "from the internal ALB"
  ip_protocol                  = "tcp"
  from_port                    = local.prometheus_port
  to_port                      = local.prometheus_port
  referenced_security_group_id = aws_security_group.internal_alb.id
}

resource "aws_vpc_security_group_egress_rule" "prometheus_all" {
  security_group_id = aws_security_group.prometheus.id
  description       = "scrapes, the ECS and EC2 APIs, image pulls, remote_write"
  ip_protocol       = "-1"
  cidr_ipv4         = "0.0.0.0/0"
}

# ---------------------------------------------------------------------------
# Load balancers
# ---------------------------------------------------------------------------

resource "aws_lb" "public" {
  name                       = "${var.name}-public"
  internal                   = false
  load_balancer_type         = "application"
  subnets                    = var.public_subnet_ids
  security_groups            = [aws_security_group.public_alb.id]
  drop_invalid_header_fields = true
  enable_deletion_protection = var.alb_deletion_protection
  tags                       = local.tags
}

resource "aws_lb" "internal" {
  name                       = "${var.name}-internal"
  internal                   = true
  load_balancer_type         = "application"
  subnets                    = var.private_subnet_ids
  security_groups            = [aws_security_group.internal_alb.id]
  drop_invalid_header_fields = true
  enable_deletion_protection = var.alb_deletion_protection
  tags                       = local.tags
}

# One target group per service; targets are task IPs (awsvpc), health-checked on the
# readiness path. deregistration_delay: how long a deregistered task keeps its in-flight
# requests before the ALB cuts them.
resource "aws_lb_target_group" "app" {
  for_each = local.ports

  name                 = "${var.name}-${each.key}"
  port                 = each.value
  protocol             = "HTTP"
  target_type          = "ip"
  vpc_id               = var.vpc_id
  deregistration_delay = var.deregistration_delay_seconds

  health_check {
    enabled             = true
    path                = local.readiness_path
    matcher             = "200"
    port                = "traffic-port"
    protocol            = "HTTP"
    interval            = local.health_check_interval
    timeout             = local.health_check_timeout
    healthy_threshold   = local.health_check_healthy_threshold
    unhealthy_threshold = local.health_check_unhealthy_threshold
  }

  tags = local.tags

  lifecycle {
    precondition {
      condition     = var.deregistration_delay_seconds > var.drain_seconds
      error_message = "deregistration_delay_seconds (${var.deregistration_delay_seconds}) must exceed drain_seconds (${var.drain_seconds})."
    }
    precondition {
      condition     = var.drain_seconds >= local.health_check_interval * local.health_check_unhealthy_threshold
      error_message = "drain_seconds (${var.drain_seconds}) must cover the ${local.health_check_interval * local.health_check_unhealthy_threshold} s the ALB needs to see a draining target unhealthy."
    }
  }
}

# Public listeners: HTTP only without a certificate; with one, HTTPS and a redirect.
resource "aws_lb_listener" "http" {
  load_balancer_arn = aws_lb.public.arn
  port              = 80
  protocol          = "HTTP"

  default_action {
    type             = var.certificate_arn == null ? "forward" : "redirect"
    target_group_arn = var.certificate_arn == null ? aws_lb_target_group.app["web"].arn : null

    dynamic "redirect" {
      for_each = var.certificate_arn == null ? [] : [1]
      content {
        protocol    = "HTTPS"
        port        = "443"
        status_code = "HTTP_301"
      }
    }
  }

  tags = local.tags
}

resource "aws_lb_listener" "https" {
  count = var.certificate_arn == null ? 0 : 1

  load_balancer_arn = aws_lb.public.arn
  port              = 443
  protocol          = "HTTPS"
  ssl_policy        = var.ssl_policy
  certificate_arn   = var.certificate_arn

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.app["web"].arn
  }

  tags = local.tags
}

locals {
  public_listener_arn = var.certificate_arn == null ? aws_lb_listener.http.arn : aws_lb_listener.https[0].arn
}

# folio-web's metrics are for Prometheus (which scrapes task IPs), not for the internet:
# the public listener answers 404 there even before the metrics token is checked.
resource "aws_lb_listener_rule" "hide_metrics" {
  listener_arn = local.public_listener_arn
  priority     = 10

  action {
    type = "fixed-response"
    fixed_response {
      content_type = "text/plain"
      message_body = "Not Found"
      status_code  = "404"
    }
  }

  condition {
    path_pattern {
      values = [local.metrics_path]
    }
  }

  tags = local.tags
}

# Internal listeners: folio-api on its own port (FOLIO_API_URL of folio-web), Prometheus.
resource "aws_lb_listener" "api" {
  load_balancer_arn = aws_lb.internal.arn
  port              = local.ports.api
  protocol          = "HTTP"

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.app["api"].arn
  }

  tags = local.tags
}

resource "aws_lb_listener" "prometheus" {
  load_balancer_arn = aws_lb.internal.arn
  port              = local.prometheus_port
  protocol          = "HTTP"

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.prometheus.arn
  }

  tags = local.tags
}
