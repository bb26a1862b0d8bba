# The seed's PrivateLink flow, written as a Terraform user would.

variable "backend_ip" {
  description = "Where the backend (nginx) listens, registered as an IP target"
  type        = string
}

variable "backend_port" {
  type = number
}

variable "listener_port" {
  type    = number
  default = 80
}

variable "health_interval" {
  type    = number
  default = 10
}

variable "idle_timeout" {
  type    = number
  default = 350
}

variable "acceptance_required" {
  type    = bool
  default = true
}

variable "consumer_zones" {
  description = "Zones (suffixes) of the consumer subnets the endpoint sits in"
  type        = list(string)
  default     = ["a"]
}

# ---- provider account -------------------------------------------------------

resource "aws_vpc" "provider" {
  provider             = aws.provider
  cidr_block           = "10.0.0.0/16"
  enable_dns_support   = true
  enable_dns_hostnames = true
  tags                 = { Name = "provider-vpc" }
}

resource "aws_subnet" "provider" {
  provider          = aws.provider
  for_each          = toset(["a", "c"])
  vpc_id            = aws_vpc.provider.id
  cidr_block        = each.key == "a" ? "10.0.1.0/24" : "10.0.2.0/24"
  availability_zone = "${var.region}${each.key}"
  tags              = { Name = "provider-${each.key}" }
}

resource "aws_security_group" "backend" {
  provider    = aws.provider
  name        = "backend"
  description = "backend web servers"
  vpc_id      = aws_vpc.provider.id

  ingress {
    description = "HTTP from the VPC"
    from_port   = 80
    to_port     = 80
    protocol    = "tcp"
    cidr_blocks = ["10.0.0.0/16"]
  }

  egress {
    from_port   = 443
    to_port     = 443
    protocol    = "tcp"
    cidr_blocks = ["0.0.0.0/0"]
  }
}

resource "aws_lb" "nlb" {
  provider                         = aws.provider
  name                             = "provider-nlb"
  internal                         = true
  load_balancer_type               = "network"
  subnets                          = [for s in aws_subnet.provider : s.id]
  enable_cross_zone_load_balancing = true
}

resource "aws_lb_target_group" "web" {
  provider    = aws.provider
  name        = "provider-web"
  port        = var.backend_port
  protocol    = "TCP"
  target_type = "ip"
  vpc_id      = aws_vpc.provider.id

  health_check {
    protocol            = "TCP"
    interval            = var.health_interval
    healthy_threshold   = 3
    unhealthy_threshold = 3
  }
}

resource "aws_lb_target_group_attachment" "web" {
  provider          = aws.provider
  target_group_arn  = aws_lb_target_group.web.arn
  target_id         = var.backend_ip
  port              = var.backend_port
  availability_zone = "all"
}

resource "aws_lb_listener" "web" {
  provider                 = aws.provider
  load_balancer_arn        = aws_lb.nlb.arn
  port                     = var.listener_port
  protocol                 = "TCP"
  tcp_idle_timeout_seconds = var.idle_timeout

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.web.arn
  }
}

resource "aws_vpc_endpoint_service" "web" {
  provider                   = aws.provider
  acceptance_required        = var.acceptance_required
  network_load_balancer_arns = [aws_lb.nlb.arn]
  tags                       = { Name = "web-service" }
}

resource "aws_vpc_endpoint_service_allowed_principal" "consumer" {
  provider                = aws.provider
  vpc_endpoint_service_id = aws_vpc_endpoint_service.web.id
  principal_arn           = "arn:aws:iam::${local.consumer_account}:root"
}

resource "aws_vpc_endpoint_connection_notification" "web" {
  provider                    = aws.provider
  vpc_endpoint_service_id     = aws_vpc_endpoint_service.web.id
  connection_notification_arn = "arn:aws:sns:${var.region}:${local.provider_account}:endpoint-events"
  connection_events           = ["Connect", "Accept", "Reject", "Delete"]
}

# ---- consumer account -------------------------------------------------------

resource "aws_vpc" "consumer" {
  provider             = aws.consumer
  cidr_block           = "10.1.0.0/16"
  enable_dns_support   = true
  enable_dns_hostnames = true
  tags                 = { Name = "consumer-vpc" }
}

resource "aws_subnet" "consumer" {
  provider          = aws.consumer
  for_each          = toset(["a", "c"])
  vpc_id            = aws_vpc.consumer.id
  cidr_block        = each.key == "a" ? "10.1.1.0/24" : "10.1.2.0/24"
  availability_zone = "${var.region}${each.key}"
}

resource "aws_security_group" "endpoint" {
  provider    = aws.consumer
  name        = "endpoint"
  description = "interface endpoints"
  vpc_id      = aws_vpc.consumer.id

  ingress {
    from_port   = 0
    to_port     = 65535
    protocol    = "tcp"
    cidr_blocks = ["10.1.0.0/16"]
  }

  egress {
    from_port   = 0
    to_port     = 0
    protocol    = "-1"
    cidr_blocks = ["0.0.0.0/0"]
  }
}

resource "aws_vpc_endpoint" "web" {
  provider           = aws.consumer
  vpc_id             = aws_vpc.consumer.id
  service_name       = aws_vpc_endpoint_service.web.service_name
  vpc_endpoint_type  = "Interface"
  subnet_ids         = [for z in var.consumer_zones : aws_subnet.consumer[z].id]
  security_group_ids = [aws_security_group.endpoint.id]

  depends_on = [aws_vpc_endpoint_service_allowed_principal.consumer]
}

resource "aws_vpc_endpoint_connection_accepter" "web" {
  provider                = aws.provider
  vpc_endpoint_service_id = aws_vpc_endpoint_service.web.id
  vpc_endpoint_id         = aws_vpc_endpoint.web.id
}

resource "aws_vpc_endpoint" "ec2" {
  provider            = aws.consumer
  vpc_id              = aws_vpc.consumer.id
  service_name        = "com.amazonaws.${var.region}.ec2"
  vpc_endpoint_type   = "Interface"
  subnet_ids          = [aws_subnet.consumer["a"].id]
  security_group_ids  = [aws_security_group.endpoint.id]
  private_dns_enabled = true
}

resource "aws_route_table" "consumer" {
  provider = aws.consumer
  vpc_id   = aws_vpc.consumer.id
}

resource "aws_route_table_association" "consumer" {
  provider       = aws.consumer
  for_each       = aws_subnet.consumer
  subnet_id      = each.value.id
  route_table_id = aws_route_table.consumer.id
}

resource "aws_vpc_endpoint" "s3" {
  provider          = aws.consumer
  vpc_id            = aws_vpc.consumer.id
  service_name      = "com.amazonaws.${var.region}.s3"
  vpc_endpoint_type = "Gateway"
  route_table_ids   = [aws_route_table.consumer.id]
}

resource "aws_vpc_endpoint" "dynamodb" {
  provider          = aws.consumer
  vpc_id            = aws_vpc.consumer.id
  service_name      = "com.amazonaws.${var.region}.dynamodb"
  vpc_endpoint_type = "Gateway"
  route_table_ids   = [aws_route_table.consumer.id]
}

output "endpoint_dns_name" {
  value = aws_vpc_endpoint.web.dns_entry[0].dns_name
}

output "endpoint_id" {
  value = aws_vpc_endpoint.web.id
}

output "service_id" {
  value = aws_vpc_endpoint_service.web.id
}

output "nlb_arn" {
  value = aws_lb.nlb.arn
}

output "s3_prefix_list_id" {
  value = aws_vpc_endpoint.s3.prefix_list_id
}

output "provider_vpc_id" {
  value = aws_vpc.provider.id
}

output "consumer_vpc_id" {
  value = aws_vpc.consumer.id
}
