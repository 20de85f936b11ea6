"""Create MINIO_BUCKET on MINIO_ENDPOINT if it is missing; wait up to 60 s for the store to answer.

Run once by the `create-bucket` service of minio.yml with the app image's Python (botocore).
Exit 0 when the bucket exists, 1 with one line saying why not.
"""

import os
import sys
import time

import botocore.config
import botocore.exceptions
import botocore.session


def main() -> int:
    endpoint = os.environ["MINIO_ENDPOINT"]
    secure = os.environ.get("MINIO_SECURE", "false").lower() in ("true", "1", "yes", "on")
    if "://" not in endpoint:
        endpoint = ("https://" if secure else "http://") + endpoint
    bucket = os.environ.get("MINIO_BUCKET", "vexa-recordings")
    client = botocore.session.get_session().create_client(
        "s3",
        endpoint_url=endpoint,
        region_name=os.environ.get("AWS_REGION", "us-east-1"),
        aws_access_key_id=os.environ["MINIO_ACCESS_KEY"],
        aws_secret_access_key=os.environ["MINIO_SECRET_KEY"],
        config=botocore.config.Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            client.head_bucket(Bucket=bucket)
            print(f"bucket {bucket} exists on {endpoint}")
            return 0
        except botocore.exceptions.ClientError as error:
            code = str(error.response.get("Error", {}).get("Code"))
            if code not in ("404", "NoSuchBucket", "NotFound"):
                problem = f"{code}: {error}"
            else:
                try:
                    client.create_bucket(Bucket=bucket)
                    print(f"bucket {bucket} created on {endpoint}")
                    return 0
                except botocore.exceptions.ClientError as create_error:
                    problem = str(create_error)
        except botocore.exceptions.BotoCoreError as error:
            problem = str(error)
        if time.monotonic() > deadline:
            print(f"error: cannot create bucket {bucket} on {endpoint}: {problem}", file=sys.stderr)
            return 1
        time.sleep(1)


if __name__ == "__main__":
    sys.exit(main())
