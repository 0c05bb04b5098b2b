#!/usr/bin/env bash
# The Google Cloud side of accesslog-pubsub: prints the commands that create it, or runs them.
#
#   packaging/gcp-setup.sh [OPTIONS] PROJECT DATASET [TOPIC]
#
# PROJECT  the Google Cloud project id
# DATASET  the BigQuery dataset (created if missing) that gets the table
# TOPIC    the Pub/Sub topic the loggers publish to (default: access-log); the table is
#          named after it (dashes become underscores)
#
# Options:
#   --apply            run the commands (default: only print them, as a bash script)
#   --config PATH      the logger's configuration, whose `format` decides the table's columns
#                      (default: /etc/accesslog-pubsub/config.toml when it exists, else the
#                      program's default format, combined)
#   --location LOC     where the dataset lives (default: US)
#   --dataflow BUCKET  also print the Dataflow alternative, with gs://BUCKET for its temp files
#   --region REGION    the Dataflow job's region (default: us-central1)
#
# What it sets up (see the README, "From Pub/Sub to BigQuery"):
#   1. the topic, and a dead-letter topic with a subscription that keeps what BigQuery refused;
#   2. the table, from `accesslog-pubsub schema`, partitioned by day on `timestamp` and
#      clustered by `vhost` and `status` where the format has them;
#   3. a BigQuery subscription writing the topic into the table with use_table_schema (no
#      Dataflow, no code), its dead-letter policy, and the roles the Pub/Sub service agent
#      needs for both;
#   4. a service account for the loggers with roles/pubsub.publisher on the topic only, and a
#      key file for it;
#   5. with --dataflow, the alternative: Google's "Pub/Sub to BigQuery" template job.
#
# The accesslog-pubsub binary (for `schema`) is $ACCESSLOG_PUBSUB, else accesslog-pubsub on
# PATH. Needs gcloud and bq (the Google Cloud CLI) only with --apply.
set -euo pipefail

usage() {
    sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
    exit 2
}
die() {
    echo "gcp-setup.sh: $*" >&2
    exit 2
}

apply=false
config=
location=US
bucket=
region=us-central1
args=()
while [ $# -gt 0 ]; do
    case "$1" in
    --apply) apply=true ;;
    --config) config=${2:?--config needs a path}; shift ;;
    --location) location=${2:?--location needs a location}; shift ;;
    --dataflow) bucket=${2:?--dataflow needs a bucket}; shift ;;
    --region) region=${2:?--region needs a region}; shift ;;
    -h | --help) usage ;;
    -*) die "unknown option $1 (see --help)" ;;
    *) args+=("$1") ;;
    esac
    shift
done
if [ "${#args[@]}" -lt 2 ] || [ "${#args[@]}" -gt 3 ]; then
    usage
fi
project=${args[0]}
dataset=${args[1]}
topic=${args[2]:-access-log}

# Names as Google Cloud accepts them (which also keeps them safe inside the commands).
[[ $project =~ ^[a-z][a-z0-9-]{4,28}[a-z0-9]$ ]] ||
    die "project id $project: 6 to 30 lowercase letters, digits and dashes, starting with a letter"
[[ $dataset =~ ^[A-Za-z0-9_]{1,1024}$ ]] ||
    die "dataset $dataset: letters, digits and underscores only"
[[ $topic =~ ^[A-Za-z][A-Za-z0-9._~+%-]{2,254}$ && $topic != goog* ]] ||
    die "topic $topic: 3 to 255 characters, starting with a letter, not with goog"
[[ $location =~ ^[A-Za-z0-9-]+$ ]] || die "location $location"
[[ $region =~ ^[a-z0-9-]+$ ]] || die "region $region"
[[ -z $bucket || $bucket =~ ^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$ ]] || die "bucket $bucket"

table=${topic//[^A-Za-z0-9_]/_}
dead_letter=$topic-dead-letter
subscription=$topic-bigquery
account=accesslog-pubsub
account_email=$account@$project.iam.gserviceaccount.com
# Expanded when the commands run, after project_number is looked up.
# shellcheck disable=SC2016
agent='service-${project_number}@gcp-sa-pubsub.iam.gserviceaccount.com'

# The table's columns, from the program itself, for the format the loggers will use.
binary=${ACCESSLOG_PUBSUB:-$(command -v accesslog-pubsub || true)}
[ -n "$binary" ] || die "accesslog-pubsub not found: install it, or set ACCESSLOG_PUBSUB=/path/to/it"
schema_args=()
if [ -n "$config" ]; then
    schema_args=(--config "$config")
elif [ ! -f /etc/accesslog-pubsub/config.toml ]; then
    schema_args=(--config /dev/null)
fi
schema=$("$binary" "${schema_args[@]}" schema) || die "$binary schema failed"
clustering=()
for column in vhost status; do
    if grep -q "\"name\": \"$column\"" <<<"$schema"; then
        clustering+=("$column")
    fi
done
schema_file=${table}.schema.json
printf '%s\n' "$schema" >"$schema_file"

commands=(
    "# 1. The topic the loggers publish to, and a dead-letter topic (with a subscription, so"
    "#    that what lands there is kept) for messages BigQuery refuses."
    "gcloud services enable pubsub.googleapis.com bigquery.googleapis.com --project=$project"
    "gcloud pubsub topics create $topic --project=$project"
    "gcloud pubsub topics create $dead_letter --project=$project"
    "gcloud pubsub subscriptions create $dead_letter-keep --topic=$dead_letter --message-retention-duration=7d --project=$project"
    ""
    "# 2. The table: columns from \`accesslog-pubsub schema\` (written to $schema_file),"
    "#    one partition per day of \`timestamp\` (lines that did not parse have none and go to"
    "#    the NULL partition), clustered by ${clustering[*]:-nothing}."
    "bq show --dataset $project:$dataset >/dev/null 2>&1 || bq --location=$location mk --dataset $project:$dataset"
    "bq mk --table --schema=$schema_file --time_partitioning_field=timestamp --time_partitioning_type=DAY${clustering[*]:+ --clustering_fields=$(IFS=,; echo "${clustering[*]}")} $project:$dataset.$table"
    ""
    "# 3. The BigQuery subscription: Pub/Sub writes every message into the table, its JSON"
    "#    keys matched to the columns (use_table_schema); what fails 5 times goes to the"
    "#    dead-letter topic. The Pub/Sub service agent needs to write the table, publish to"
    "#    the dead-letter topic and acknowledge on the subscription."
    "project_number=\$(gcloud projects describe $project --format='value(projectNumber)')"
    "bq add-iam-policy-binding --member=\"serviceAccount:$agent\" --role=roles/bigquery.dataEditor $project:$dataset.$table"
    "gcloud pubsub topics add-iam-policy-binding $dead_letter --member=\"serviceAccount:$agent\" --role=roles/pubsub.publisher --project=$project"
    "gcloud pubsub subscriptions create $subscription --topic=$topic --bigquery-table=$project:$dataset.$table --use-table-schema --dead-letter-topic=$dead_letter --max-delivery-attempts=5 --project=$project"
    "gcloud pubsub subscriptions add-iam-policy-binding $subscription --member=\"serviceAccount:$agent\" --role=roles/pubsub.subscriber --project=$project"
    ""
    "# 4. The loggers' identity: may publish to this topic, nothing else. Install the key as"
    "#    /etc/accesslog-pubsub/key.json (mode 0600) and set credentials_file to it, or skip"
    "#    the key on Google Cloud VMs that run as this service account."
    "gcloud iam service-accounts create $account --display-name='accesslog-pubsub loggers' --project=$project"
    "gcloud pubsub topics add-iam-policy-binding $topic --member=serviceAccount:$account_email --role=roles/pubsub.publisher --project=$project"
    "gcloud iam service-accounts keys create $account-key.json --iam-account=$account_email --project=$project"
)
if [ -n "$bucket" ]; then
    commands+=(
        ""
        "# 5. The alternative to step 3: Google's Dataflow template \"Pub/Sub to BigQuery\". It"
        "#    runs workers (billed by the hour), writes to the same table, and puts rows it"
        "#    cannot write into ${table}_error_records. Do not run both: every line would be"
        "#    in the table twice."
        "gcloud services enable dataflow.googleapis.com --project=$project"
        "gcloud dataflow jobs run accesslog-pubsub-to-bigquery --project=$project --region=$region --gcs-location=gs://dataflow-templates-$region/latest/PubSub_to_BigQuery --staging-location=gs://$bucket/temp --parameters=inputTopic=projects/$project/topics/$topic,outputTableSpec=$project:$dataset.$table"
    )
fi

if ! $apply; then
    echo "#!/usr/bin/env bash"
    echo "# accesslog-pubsub on $project: topic $topic -> BigQuery $project:$dataset.$table"
    echo "# (printed by packaging/gcp-setup.sh; run it again with --apply to run these)"
    echo "set -euo pipefail"
    printf '%s\n' "${commands[@]}"
    exit 0
fi

for tool in gcloud bq; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool not found (install the Google Cloud CLI)"
done
for command in "${commands[@]}"; do
    case "$command" in
    "" | "#"*) continue ;;
    esac
    echo "+ $command" >&2
    eval "$command"
done
