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
# LicenseModel are what support and auditors filter by. None is personal
# data. The worker also registers them at start-up.
set -eu
ns="${TEMPORAL_NAMESPACE:-default}"
retention="${TEMPORAL_NAMESPACE_RETENTION:-720h}"

tries=0
until temporal operator cluster health 2>/dev/null | grep -q SERVING; do
	tries=$((tries + 1))
	if [ "$tries" -ge 60 ]; then
		echo "temporal-namespace: Temporal at $TEMPORAL_ADDRESS is not serving" >&2
		exit 1
	fi
	sleep 2
done

if temporal operator namespace describe --namespace "$ns" >/dev/null 2>&1; then
	echo "temporal-namespace: namespace $ns exists"
else
	temporal operator namespace create --namespace "$ns" --retention "$retention" \
		--description "keysmith license-key orders"
	echo "temporal-namespace: created namespace $ns (retention $retention)"
fi

# A new namespace takes a few seconds to reach every service's cache.
tries=0
until attrs=$(temporal operator search-attribute list --namespace "$ns" 2>&1); do
	tries=$((tries + 1))
	if [ "$tries" -ge 30 ]; then
		echo "temporal-namespace: cannot list search attributes: $attrs" >&2
		exit 1
	fi
	sleep 2
done

for attr in EmailStatus:Keyword OrderLine:Keyword Provider:Keyword Product:Keyword OrderDate:Datetime LicenseModel:Keyword; do
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
tries=0
until temporal workflow list --namespace "$ns" --limit 1 \
	--query 'EmailStatus = "x" AND OrderLine = "x" AND Provider = "x" AND Product = "x" AND LicenseModel = "x" AND OrderDate > "2000-01-01T00:00:00Z"' >/dev/null 2>&1; do
	tries=$((tries + 1))
	if [ "$tries" -ge 90 ]; then
		echo "temporal-namespace: search attributes not usable after 3 minutes" >&2
		exit 1
	fi
	sleep 2
done
echo "temporal-namespace: search attributes in use"

