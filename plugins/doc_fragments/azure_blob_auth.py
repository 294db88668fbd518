# -*- coding: utf-8 -*-
# Copyright: homelab.immich_pi contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment:
    # Options of azure_blob_argument_spec() in plugins/module_utils/azure_blob_target.py.
    DOCUMENTATION = r"""
options:
  account_name:
    description:
      - Name of the storage account, the first label of C(<account>.blob.core.windows.net).
      - Required with O(account_key) and O(service_principal) unless O(endpoint) names the account.
      - With O(sas_url) or O(connection_string) it is optional; when given it must match the
        account they name.
    type: str
  account_key:
    description:
      - One of the two access keys of the storage account (key1 or key2, base64).
      - Exactly one of O(account_key), O(sas_url), O(connection_string) and
        O(service_principal) is required.
    type: str
  sas_url:
    description:
      - A container SAS URL C(https://<account>.blob.core.windows.net/<container>?sv=...&sig=...)
        or an account SAS URL C(https://<account>.blob.core.windows.net/?sv=...&sig=...).
      - The container in the URL, if any, must be O(container).
      - An expired SAS (C(se=) in the past) is reported as C(sas_expired) without a request.
      - rclone and the backup job need the permissions read, write, delete and list (C(sp=rwdl); C(racwdl) works too).
    type: str
  connection_string:
    description:
      - A storage connection string C(DefaultEndpointsProtocol=https;AccountName=...;AccountKey=...;EndpointSuffix=core.windows.net),
        or one with C(SharedAccessSignature=) or C(BlobEndpoint=).
    type: str
  service_principal:
    description:
      - A Microsoft Entra ID service principal that signs in with a client secret (needs the
        Python library C(azure-identity) on the controller).
      - It needs the role Storage Blob Data Reader on the account or container to read, and
        Storage Blob Data Contributor to write.
    type: dict
    suboptions:
      tenant_id:
        description: The tenant (directory) ID.
        type: str
        required: true
      client_id:
        description: The application (client) ID.
        type: str
        required: true
      client_secret:
        description: The value of one of the application's client secrets.
        type: str
        required: true
      authority_host:
        description:
          - The Microsoft Entra ID host for a sovereign cloud, for example
            V(login.microsoftonline.us); the public cloud's V(login.microsoftonline.com) when not set.
        type: str
  endpoint:
    description:
      - The Blob endpoint of the account, instead of V(https://<account>.blob.core.windows.net);
        for sovereign clouds, private endpoints with their own name, or the Azurite emulator
        (V(http://127.0.0.1:10000/devstoreaccount1), the account in the path).
      - Not with O(sas_url) or O(connection_string), which carry their endpoint.
    type: str
  container:
    description:
      - The Blob container.
    type: str
    required: true
  timeout:
    description:
      - Seconds to wait for a connection and for each answer. Connection errors and timeouts
        are not retried, so an unreachable endpoint fails within this time.
    type: int
    default: 10
requirements:
  - azure-storage-blob >= 12.19 (Python library, on the host the module runs on; run it on the controller with C(delegate_to=localhost))
  - azure-identity, only for O(service_principal)
notes:
  - Talks to the Blob API directly (not through an rclone mount), so the answer is what is
    really stored in Azure.
  - Secrets are never returned; query strings (where a SAS lives), C(sig=) and C(AccountKey=)
    values are removed from every message.
"""
