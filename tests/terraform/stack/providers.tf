# Two AWS accounts of the emulator as two aliased providers: the access key
# names the account, every endpoint points at the emulator.
terraform {
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "5.100.0"
    }
  }
}

variable "endpoint" {
  description = "The emulator's API, e.g. http://127.0.0.1:4566"
  type        = string
}

variable "region" {
  type    = string
  default = "ap-northeast-1"
}

locals {
  provider_account = "111111111111"
  consumer_account = "222222222222"
}

provider "aws" {
  alias                   = "provider"
  region                  = var.region
  access_key              = local.provider_account
  secret_key              = "emulator"
  skip_metadata_api_check = true
  skip_region_validation  = true
  endpoints {
    ec2     = var.endpoint
    elbv2   = var.endpoint
    sts     = var.endpoint
    route53 = var.endpoint
  }
}

provider "aws" {
  alias                   = "consumer"
  region                  = var.region
  access_key              = local.consumer_account
  secret_key              = "emulator"
  skip_metadata_api_check = true
  skip_region_validation  = true
  endpoints {
    ec2     = var.endpoint
    elbv2   = var.endpoint
    sts     = var.endpoint
    route53 = var.endpoint
  }
}
