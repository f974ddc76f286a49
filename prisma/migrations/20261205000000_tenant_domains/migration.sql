-- Tenants' own domains (issue 11): a hostname belongs to at most one tenant, under the same row-level security
-- as projects and tasks. The edge asks who owns a hostname through tenant_domain_owner(), the one narrow way
-- across tenants: it answers for an exact name and cannot list them.

-- CreateTable
CREATE TABLE "tenant_domains" (
    "id" UUID NOT NULL,
    "tenant_id" UUID NOT NULL,
    "hostname" VARCHAR(253) NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "tenant_domains_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "tenant_domains_hostname_key" ON "tenant_domains"("hostname");

-- CreateIndex
CREATE INDEX "tenant_domains_tenant_id_created_at_idx" ON "tenant_domains"("tenant_id", "created_at");

-- AddForeignKey
ALTER TABLE "tenant_domains" ADD CONSTRAINT "tenant_domains_tenant_id_fkey" FOREIGN KEY ("tenant_id") REFERENCES "tenants"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- The service validates names fully (server/services/hostname.ts); the database keeps the invariants lookups rely on.
ALTER TABLE "tenant_domains" ADD CONSTRAINT "tenant_domains_hostname_format"
    CHECK ("hostname" = lower("hostname") AND "hostname" ~ '^[a-z0-9.-]{1,253}$');

GRANT SELECT, INSERT, DELETE ON "tenant_domains" TO "gatehouse_app";

ALTER TABLE "tenant_domains" ENABLE ROW LEVEL SECURITY;
ALTER TABLE "tenant_domains" FORCE ROW LEVEL SECURITY;
CREATE POLICY "tenant_isolation" ON "tenant_domains"
    USING ("tenant_id" = NULLIF(current_setting('app.tenant_id', TRUE), '')::uuid)
    WITH CHECK ("tenant_id" = NULLIF(current_setting('app.tenant_id', TRUE), '')::uuid);

-- Which tenant owns this exact hostname (none: no row). SECURITY DEFINER runs it as the migration's role, which
-- (a superuser, as db:migrate connects) is not subject to the policy; a pinned search_path keeps it from being
-- redirected. Only the app role may call it. (The parameter is not called `name`: tenants.name would win.)
CREATE FUNCTION "tenant_domain_owner"("wanted" TEXT) RETURNS TABLE ("tenant_id" UUID, "slug" VARCHAR(63))
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
    AS $$ SELECT d.tenant_id, t.slug FROM tenant_domains d JOIN tenants t ON t.id = d.tenant_id WHERE d.hostname = wanted $$;
REVOKE ALL ON FUNCTION "tenant_domain_owner"(TEXT) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION "tenant_domain_owner"(TEXT) TO "gatehouse_app";
