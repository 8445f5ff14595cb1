"""Sets up and reads a moto Route 53 (tests/peers/moto.sh) with boto3, independently of
Standby's own client. Run with the moto venv's python:

    route53.py ENDPOINT create ZONE            -> prints the new hosted zone's id
    route53.py ENDPOINT put ZONE_ID NAME TYPE TTL VALUE...
    route53.py ENDPOINT get ZONE_ID NAME TYPE  -> prints "TTL VALUE..." or nothing
"""
import sys

import boto3

endpoint, command, *args = sys.argv[1:]
client = boto3.client(
    "route53",
    endpoint_url=endpoint,
    region_name="us-east-1",
    aws_access_key_id="AKIDTEST",
    aws_secret_access_key="test-secret",
)
if command == "create":
    zone = client.create_hosted_zone(Name=args[0], CallerReference=args[0])
    print(zone["HostedZone"]["Id"].split("/")[-1])
elif command == "put":
    zone_id, name, kind, ttl, *values = args
    client.change_resource_record_sets(
        HostedZoneId=zone_id,
        ChangeBatch={
            "Changes": [
                {
                    "Action": "UPSERT",
                    "ResourceRecordSet": {
                        "Name": name,
                        "Type": kind,
                        "TTL": int(ttl),
                        "ResourceRecords": [{"Value": v} for v in values],
                    },
                }
            ]
        },
    )
elif command == "get":
    zone_id, name, kind = args
    found = client.list_resource_record_sets(
        HostedZoneId=zone_id, StartRecordName=name, StartRecordType=kind, MaxItems="1"
    )["ResourceRecordSets"]
    for rrset in found:
        if rrset["Name"].rstrip(".") == name.rstrip(".") and rrset["Type"] == kind:
            values = sorted(r["Value"] for r in rrset["ResourceRecords"])
            print(rrset["TTL"], *values)
else:
    sys.exit(f"unknown command {command}")
