#!/usr/bin/env python3
"""Fetches one object of the deployment's bucket with the instance role's credentials, and checks its SHA-256.

Part of gwlb's appliance bootstrap: it runs before Node.js is on the machine, with nothing but python3's
standard library (every cloud-init image has it). Credentials come from IMDSv2; the request is signed with
AWS Signature Version 4. Transient failures are retried; the last one ends the script with one line.

usage: s3-fetch.py --bucket B --region R [--endpoint URL] [--dns-suffix amazonaws.com] KEY DEST SHA256
"""
import argparse
import datetime
import hashlib
import hmac
import json
import os
import sys
import time
import urllib.parse
import urllib.request

IMDS = os.environ.get('AWS_EC2_METADATA_SERVICE_ENDPOINT', 'http://169.254.169.254').rstrip('/')
ATTEMPTS = 8


def imds(path, token=None, method='GET'):
    headers = {'X-aws-ec2-metadata-token': token} if token else {'X-aws-ec2-metadata-token-ttl-seconds': '300'}
    request = urllib.request.Request(IMDS + path, method=method, headers=headers)
    with urllib.request.urlopen(request, timeout=5) as response:
        return response.read().decode()


def role_credentials():
    """The instance role's temporary credentials (IMDSv2: a session token first)."""
    token = imds('/latest/api/token', method='PUT')
    role = imds('/latest/meta-data/iam/security-credentials/', token).split('\n')[0].strip()
    if not role:
        raise RuntimeError('the instance has no IAM role (instance profile)')
    c = json.loads(imds('/latest/meta-data/iam/security-credentials/' + role, token))
    return c['AccessKeyId'], c['SecretAccessKey'], c.get('Token')


def _hmac(key, text):
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def signed_headers(host, path, region, credentials, now):
    """Headers of an S3 GET signed with SigV4 (payload unsigned, as the S3 API allows for GET)."""
    key_id, secret, session = credentials
    stamp = now.strftime('%Y%m%dT%H%M%SZ')
    headers = {'host': host, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD', 'x-amz-date': stamp}
    if session:
        headers['x-amz-security-token'] = session
    names = ';'.join(sorted(headers))
    canonical = '\n'.join(['GET', urllib.parse.quote(path, safe='/-_.~'), '']
                          + [f'{k}:{headers[k].strip()}' for k in sorted(headers)] + ['', names, 'UNSIGNED-PAYLOAD'])
    scope = f'{stamp[:8]}/{region}/s3/aws4_request'
    to_sign = '\n'.join(['AWS4-HMAC-SHA256', stamp, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = _hmac(_hmac(_hmac(_hmac(('AWS4' + secret).encode(), stamp[:8]), region), 's3'), 'aws4_request')
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    headers['authorization'] = f'AWS4-HMAC-SHA256 Credential={key_id}/{scope}, SignedHeaders={names}, Signature={signature}'
    return headers


def object_url(args, key):
    """Path style on an explicit endpoint (an emulator), else the bucket's regional virtual-hosted name."""
    if args.endpoint:
        return f'{args.endpoint.rstrip("/")}/{args.bucket}/{key}'
    return f'https://{args.bucket}.s3.{args.region}.{args.dns_suffix}/{key}'


def fetch_once(args):
    url = urllib.parse.urlsplit(object_url(args, args.key))
    headers = signed_headers(url.netloc, url.path, args.region, role_credentials(), datetime.datetime.now(datetime.timezone.utc))
    request = urllib.request.Request(url.geturl(), headers=headers)
    digest = hashlib.sha256()
    partial = args.dest + '.part'
    with urllib.request.urlopen(request, timeout=60) as response, open(partial, 'wb') as out:
        while chunk := response.read(1 << 20):
            digest.update(chunk)
            out.write(chunk)
    if digest.hexdigest() != args.sha256:
        os.unlink(partial)
        raise ValueError(f'SHA-256 {digest.hexdigest()} is not the expected {args.sha256}')
    os.replace(partial, args.dest)


def main():
    parser = argparse.ArgumentParser(description='fetch one staged object of a gwlb deployment')
    parser.add_argument('--bucket', required=True)
    parser.add_argument('--region', required=True)
    parser.add_argument('--endpoint')
    parser.add_argument('--dns-suffix', default='amazonaws.com')
    parser.add_argument('key')
    parser.add_argument('dest')
    parser.add_argument('sha256')
    args = parser.parse_args()
    source = f's3://{args.bucket}/{args.key}'
    for attempt in range(1, ATTEMPTS + 1):
        try:
            fetch_once(args)
            print(f'gwlb bootstrap: fetched {source} (sha256 {args.sha256[:12]}…)', flush=True)
            return 0
        except ValueError as error:  # a wrong digest will not get better by asking again
            print(f'gwlb bootstrap: {source}: {error}', file=sys.stderr, flush=True)
            return 1
        except Exception as error:  # network, IMDS, a role not visible yet: all transient at first boot
            reason = f'HTTP {error.code} {error.reason}' if hasattr(error, 'code') and hasattr(error, 'reason') else str(error)
            if attempt == ATTEMPTS:
                print(f'gwlb bootstrap: could not fetch {source} after {ATTEMPTS} tries: {reason}', file=sys.stderr, flush=True)
                return 1
            delay = min(2 ** attempt, 30)
            print(f'gwlb bootstrap: {source}: {reason}; trying again in {delay}s', file=sys.stderr, flush=True)
            time.sleep(delay)


if __name__ == '__main__':
    sys.exit(main())
