// Package azure is a loopback fake of the Azure APIs jit's Azure provider
// talks to: Azure Resource Manager's Privileged Identity Management
// endpoints for Azure resource roles (api-version 2020-10-01: eligibility
// schedule instances, role assignment schedule requests and instances,
// role management policies) and an Entra ID tenant (OpenID discovery and a
// client-credentials token endpoint) whose unsigned JWT access tokens carry
// the oid/upn/tid claims jit reads. It speaks HTTPS with a self-signed
// certificate, because azcore sends bearer tokens over TLS only.
//
// It enforces what PIM enforces for self-activation: eligibility, the
// role's maximum activation duration, justification, ticket and MFA
// requirements, approval, one activation per role, and no deactivation in
// the first 5 minutes. Schedules run on a clock tests can advance. Admin
// endpoints under /_fake/ approve or deny requests, inject faults, advance
// the clock and show the call log.
//
// The fake binds loopback only and never talks to Azure.
package azure
