# One CloudWatch log group per service; the containers log to it with the awslogs driver
# (stream <service>/<container>/<task id>).

resource "aws_cloudwatch_log_group" "this" {
  for_each = toset(concat(["api", "web", "prometheus"], var.alertmanager_enabled ? ["alertmanager"] : []))

  name              = "/ecs/${var.name}/${each.key}"
  retention_in_days = var.log_retention_days
  tags              = local.tags
}
