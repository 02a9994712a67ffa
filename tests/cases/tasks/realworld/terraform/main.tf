resource "aws_s3_bucket" "this" {
  bucket = var.bucketName
}

variable "bucketName" {}
