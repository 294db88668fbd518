"""Delete one Blob container from the test bed's Azurite, if it exists.

Each simulated Pi mounts the container named after it; removing the Pi removes its photos
too, so the next run starts from an empty container. Prints "deleted" or "absent".
"""

from __future__ import annotations

import sys

from azure.core.exceptions import ResourceNotFoundError
from azure.storage.blob import BlobServiceClient

# Azurite's public development account (tests/testbed/ensure-azurite.sh).
CONNECTION_STRING = (
    "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
    "AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;"
    "BlobEndpoint=http://172.17.0.1:10000/devstoreaccount1;"
)


def main(name: str) -> None:
    service = BlobServiceClient.from_connection_string(CONNECTION_STRING)
    try:
        service.delete_container(name)
    except ResourceNotFoundError:
        print("absent")
        return
    print("deleted")


if __name__ == "__main__":
    main(sys.argv[1])
