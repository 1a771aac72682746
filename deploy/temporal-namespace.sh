#!/bin/sh
# One-shot (the temporal-namespace service, temporalio/admin-tools image):
# creates keysmith's namespace and its search attributes when they are
# missing. Safe to run again. The temporal CLI reads TEMPORAL_ADDRESS.
#
# Retention: Temporal deletes a closed workflow that long after it closes.
# keysmith keeps every order and key in Postgres and answers a repeated
# request from there, so retention only bounds how far back the Temporal UI
# can show an order's history.
#
# EmailStatus (Keyword) lets support find orders whose email is parked:
# EmailStatus = "failed". OrderLine (Keyword) gathers an order line's
# workflows (its keys, renewals, support actions): OrderLine =
# "shareit:123456-1". Provider, Product ("1 1.0"), OrderDate (Datetime) and
# LicenseModel are what support and auditors filter by. Delivery (Keyword)
# finds the lines held because the storefront did not receive their keys:
# Delivery = "unconfirmed". None is personal data. The worker also registers them at start-up.
set -eu
ns="${TEMPORAL_NAMESPACE:-default}"
retention="${TEMPORAL_NAMESPACE_RETENTION:-720h}"

# wait_for SECONDS WHAT COMMAND...: runs COMMAND every 2 seconds until it
# succeeds; fails saying WHAT after SECONDS.
wait_for() {
	limit=$1 what=$2
	shift 2
	waited=0
	until "$@" >/dev/null 2>&1; do
		waited=$((waited + 2))
		if [ "$waited" -ge "$limit" ]; then
			echo "temporal-namespace: $what after ${limit}s" >&2
			exit 1
		fi
		sleep 2
	done
}

serving() { temporal operator cluster health | grep -q SERVING; }
wait_for 120 "Temporal at $TEMPORAL_ADDRESS is not serving" serving

if temporal operator namespace describe --namespace "$ns" >/dev/null 2>&1; then
	echo "temporal-namespace: namespace $ns exists"
else
	temporal operator namespace create --namespace "$ns" --retention "$retention" \
		--description "keysmith license-key orders"
	echo "temporal-namespace: created namespace $ns (retention $retention)"
fi

# A new namespace takes a few seconds to reach every service's cache.
wait_for 60 "cannot list search attributes" temporal operator search-attribute list --namespace "$ns"
attrs=$(temporal operator search-attribute list --namespace "$ns")

for attr in EmailStatus:Keyword OrderLine:Keyword Provider:Keyword Product:Keyword OrderDate:Datetime LicenseModel:Keyword Delivery:Keyword; do
	name="${attr%%:*}" type="${attr#*:}"
	if printf '%s\n' "$attrs" | grep -qw "$name"; then
		echo "temporal-namespace: search attribute $name exists"
	else
		temporal operator search-attribute create --namespace "$ns" --name "$name" --type "$type"
		echo "temporal-namespace: created search attribute $name ($type)"
	fi
done

# Temporal's services learn new search attributes when their caches refresh;
# until then a workflow start that sets them is refused. Wait until a query
# naming them all is accepted, so that the first orders are keyed at once.
wait_for 180 "search attributes not usable" temporal workflow list --namespace "$ns" --limit 1 \
	--query 'EmailStatus = "x" AND Delivery = "x" AND OrderLine = "x" AND Provider = "x" AND Product = "x" AND LicenseModel = "x" AND OrderDate > "2000-01-01T00:00:00Z"'
echo "temporal-namespace: search attributes in use"
