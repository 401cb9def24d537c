# Real exports against localcloud (AGENTNET_EMULATOR_HOST). The bucket is
# made by the Go test that runs this (TF_VAR_test_bucket).

provider "agentnet" {
  project = "agentnet-test"
  region  = "us-central1"
}

variables {
  bucket = var.test_bucket
}

run "setup" {
  module {
    source = "./tests/setup"
  }
}

run "hourly_snapshot" {
  variables {
    instance_id = run.setup.instance_id
    signing_key = var.test_signing_key
  }

  assert {
    condition     = output.prefix == "gs://${var.test_bucket}/backup-test/"
    error_message = "The default prefix is the instance name: got ${output.prefix}."
  }
  assert {
    condition     = startswith(output.snapshot_uri, output.prefix) && endswith(output.snapshot_uri, ".rdb")
    error_message = "The snapshot ${output.snapshot_uri} is not an .rdb object under ${output.prefix}."
  }
  assert {
    condition     = can(regex("^\\d{4}-\\d{2}-\\d{2}T\\d{2}:00Z$", output.slot))
    error_message = "An hourly schedule's slot starts on the hour: got ${output.slot}."
  }
  assert {
    condition     = output.latest.uri == output.snapshot_uri && output.latest.crc32c == output.snapshot_crc32c
    error_message = "The newest snapshot under the prefix is ${output.latest.uri}, not the one just taken (${output.snapshot_uri})."
  }
  assert {
    condition     = output.rpo_met
    error_message = "A snapshot taken by this apply does not meet the 300s RPO: ${output.latest_age_seconds}s old."
  }
  assert {
    condition     = output.snapshot_signed && output.snapshot_manifest_uri == "${output.snapshot_uri}.manifest.json"
    error_message = "The snapshot's manifest is not signed with signing_key: signed = ${output.snapshot_signed}, manifest ${coalesce(output.snapshot_manifest_uri, "(none)")}."
  }
  assert {
    condition     = output.snapshot_key_count == 0
    error_message = "The test instance is empty, yet its snapshot's manifest counts ${output.snapshot_key_count} keys."
  }
  assert {
    condition     = output.lifecycle_rule.age == 7 && output.lifecycle_rule.matches_prefix == "backup-test/"
    error_message = "The lifecycle rule keeps snapshots 7 days under backup-test/: got ${jsonencode(output.lifecycle_rule)}."
  }
}

# A value in triggers takes another snapshot now; the first one's object stays.
run "extra_snapshot" {
  variables {
    instance_id = run.setup.instance_id
    triggers    = { manual = "before-upgrade" }
  }

  # Without signing_key (the default) the manifest is written unsigned.
  assert {
    condition     = !output.snapshot_signed
    error_message = "A snapshot without signing_key has a signed manifest."
  }

  assert {
    condition     = output.snapshot_count >= 2
    error_message = "The replaced snapshot's object is gone: ${output.snapshot_count} snapshot(s) under the prefix."
  }
  assert {
    condition     = output.latest.uri == output.snapshot_uri
    error_message = "A new trigger value did not take a new snapshot: the newest is ${output.latest.uri}, the resource's ${output.snapshot_uri}."
  }
}

# A 15-minute schedule: the slot starts on a quarter hour.
run "quarter_hour_schedule" {
  variables {
    instance_id      = run.setup.instance_id
    interval_minutes = 15
    prefix           = "quarter-hourly/"
  }

  assert {
    condition     = contains(["00", "15", "30", "45"], substr(output.slot, 14, 2))
    error_message = "A 15-minute slot starts on a quarter hour: got ${output.slot}."
  }
  assert {
    condition     = agentnet_redis_snapshot.this.destination == "gs://${var.test_bucket}/quarter-hourly/"
    error_message = "The prefix input is not the destination: ${agentnet_redis_snapshot.this.destination}."
  }
}
