# The cluster, and folio-api and folio-web as Fargate services behind their ALBs.

resource "aws_ecs_cluster" "this" {
  name = var.name

  setting {
    name  = "containerInsights"
    value = var.container_insights
  }

  tags = local.tags
}

resource "aws_ecs_task_definition" "app" {
  for_each = local.containers

  family                   = local.service_names[each.key]
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = local.task_sizes[each.key].cpu
  memory                   = local.task_sizes[each.key].memory
  execution_role_arn       = aws_iam_role.execution.arn
  task_role_arn            = aws_iam_role.app_task.arn

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = var.cpu_architecture
  }

  container_definitions = jsonencode([
    merge(each.value, {
      environment = concat(each.value.environment, local.extra_environment[each.key])
      secrets     = concat(each.value.secrets, local.extra_secrets[each.key])
    }),
  ])

  tags = local.tags

  lifecycle {
    precondition {
      condition     = local.stop_timeout <= 120
      error_message = "drain_seconds + shutdown_grace_seconds + stop_timeout_margin_seconds = ${local.stop_timeout} s; Fargate's stopTimeout is at most 120 s."
    }
  }
}

resource "aws_ecs_service" "app" {
  for_each = local.containers

  name                    = local.service_names[each.key]
  cluster                 = aws_ecs_cluster.this.id
  task_definition         = aws_ecs_task_definition.app[each.key].arn
  desired_count           = local.task_sizes[each.key].desired_count
  launch_type             = "FARGATE"
  platform_version        = "LATEST"
  propagate_tags          = "SERVICE"
  enable_ecs_managed_tags = true

  # Zero downtime: a new task must be running and healthy in its target group before an old
  # one is stopped (100 %), with room for a full second set meanwhile (200 %). A deployment
  # whose tasks keep failing their health checks stops and rolls back to the last good one.
  deployment_minimum_healthy_percent = 100
  deployment_maximum_percent         = 200
  health_check_grace_period_seconds  = var.health_check_grace_period_seconds

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  network_configuration {
    subnets          = var.private_subnet_ids
    security_groups  = [aws_security_group.task[each.key].id]
    assign_public_ip = var.assign_public_ip
  }

  load_balancer {
    target_group_arn = aws_lb_target_group.app[each.key].arn
    container_name   = each.value.name
    container_port   = local.ports[each.key]
  }

  tags = local.tags

  # A target group must belong to a listener before a service can use it.
  depends_on = [
    aws_lb_listener.http,
    aws_lb_listener.https,
    aws_lb_listener.api,
    aws_iam_role_policy.execution_secrets,
  ]
}
