# A friendly name for the endpoint, as a consumer gives one: a private hosted
# zone of the consumer's VPC with an alias to the endpoint's regional name,
# shared with a VPC of the provider's account (authorized by the zone's
# owner, associated by the VPC's owner).

variable "zone_comment" {
  type    = string
  default = "friendly names of the consumer's endpoints"
}

resource "aws_route53_zone" "internal" {
  provider = aws.consumer
  name     = "internal.example.com"
  comment  = var.zone_comment

  vpc {
    vpc_id = aws_vpc.consumer.id
  }

  tags = { Team = "web" }

  # The provider's VPC joins through aws_route53_zone_association, which the
  # zone's own vpc blocks would otherwise undo.
  lifecycle {
    ignore_changes = [vpc]
  }
}

resource "aws_route53_record" "api" {
  provider = aws.consumer
  zone_id  = aws_route53_zone.internal.zone_id
  name     = "api.internal.example.com"
  type     = "A"

  alias {
    name                   = aws_vpc_endpoint.web.dns_entry[0].dns_name
    zone_id                = aws_vpc_endpoint.web.dns_entry[0].hosted_zone_id
    evaluate_target_health = false
  }
}

resource "aws_route53_vpc_association_authorization" "provider" {
  provider = aws.consumer
  zone_id  = aws_route53_zone.internal.zone_id
  vpc_id   = aws_vpc.provider.id
}

resource "aws_route53_zone_association" "provider" {
  provider = aws.provider
  zone_id  = aws_route53_vpc_association_authorization.provider.zone_id
  vpc_id   = aws_route53_vpc_association_authorization.provider.vpc_id
}

output "zone_id" {
  value = aws_route53_zone.internal.zone_id
}

output "friendly_name" {
  value = aws_route53_record.api.fqdn
}
