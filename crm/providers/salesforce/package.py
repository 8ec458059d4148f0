"""The Chorus for Salesforce managed package, read from its SFDX source folder
(``salesforce-package/``): the objects and fields it defines (the push writes
exactly these, under the package's namespace) and the zip an admin downloads from
Settings > Integrations > Install Salesforce Package.

Interface (filled in by the package work; callers rely on these names):

* ``NAMESPACE`` — the package's namespace prefix (``affectlayer``).
* ``api_name(local)`` — a package component's API name in a subscriber org
  (``Chorus_Engagement__c`` → ``affectlayer__Chorus_Engagement__c``).
* ``package_objects()`` — {object API name: {field API name: FieldSpec}} as the
  metadata defines them (namespaced).
* ``package_zip(*, canvas_url: str) -> bytes`` — the source folder as a zip, the
  connected app's canvas URL set to ``canvas_url``.
"""
