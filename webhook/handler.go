package webhook

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/heraldlb/herald/config"
)

// Path is where the handler serves AdmissionReviews for every kind.
const Path = "/validate"

// maxReviewBytes bounds a request body: an AdmissionReview carries the
// object and the old object, each at most the API server's 3 MiB limit.
const maxReviewBytes = 7 << 20

// Handler validates AdmissionReviews. It is safe for concurrent use.
type Handler struct {
	namespace string
	source    Source
	live      Source
	log       *slog.Logger
}

// NewHandler returns a handler that validates objects in namespace against
// the configuration source returns. live, if not nil, is consulted before
// any refusal, for a source that may lag (a cache): it then cannot refuse an
// object whose references were created an instant earlier. log may be nil.
func NewHandler(namespace string, source, live Source, log *slog.Logger) *Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Handler{namespace: namespace, source: source, live: live, log: log}
}

// ServeHTTP answers one admission.k8s.io/v1 AdmissionReview.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "POST an AdmissionReview", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxReviewBytes+1))
	if err != nil {
		http.Error(w, "reading body: "+err.Error(), http.StatusBadRequest)
		return
	}
	if len(body) > maxReviewBytes {
		http.Error(w, "AdmissionReview too large", http.StatusRequestEntityTooLarge)
		return
	}
	var review admissionv1.AdmissionReview
	if err := json.Unmarshal(body, &review); err != nil {
		http.Error(w, "decoding AdmissionReview: "+err.Error(), http.StatusBadRequest)
		return
	}
	if review.Request == nil {
		http.Error(w, "AdmissionReview has no request", http.StatusBadRequest)
		return
	}
	resp := h.Review(r.Context(), review.Request)
	resp.UID = review.Request.UID
	out := admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: admissionv1.SchemeGroupVersion.String(), Kind: "AdmissionReview"},
		Response: resp,
	}
	w.Header().Set("Content-Type", "application/json")
	if err := json.NewEncoder(w).Encode(out); err != nil {
		h.log.Warn("writing AdmissionReview response", "err", err)
	}
}

// Review decides one request. The response's UID is left for the caller.
func (h *Handler) Review(ctx context.Context, req *admissionv1.AdmissionRequest) *admissionv1.AdmissionResponse {
	obj := object{Kind: req.Kind.Kind, Namespace: req.Namespace, Name: req.Name}
	log := h.log.With("operation", req.Operation, "object", obj.String(), "version", req.Kind.Version)
	if req.Operation == admissionv1.Connect {
		return &admissionv1.AdmissionResponse{Allowed: true}
	}
	var value any
	if req.Operation != admissionv1.Delete {
		v, err := decode(schema.GroupVersionKind(req.Kind), req.Object.Raw)
		if err != nil {
			log.Warn("undecodable request", "err", err)
			return deny(http.StatusBadRequest, metav1.StatusReasonBadRequest, err.Error(), nil)
		}
		value = v
		if m, ok := v.(metav1.Object); ok {
			if obj.Name == "" {
				obj.Name = m.GetName()
			}
			// An object on its way out is only having finalizers removed;
			// refusing that would leave it stuck.
			if m.GetDeletionTimestamp() != nil {
				return &admissionv1.AdmissionResponse{Allowed: true}
			}
		}
	}
	if obj.Namespace != h.namespace {
		// Herald reads only its own namespace, as MetalLB does; such an
		// object is harmless, so it is admitted with a notice.
		return &admissionv1.AdmissionResponse{Allowed: true, Warnings: []string{fmt.Sprintf(
			"%s has no effect: Herald reads metallb.io objects only in namespace %q", obj, h.namespace)}}
	}

	v, err := decide(ctx, h.source, req.Operation, obj, value)
	if err == nil && !v.Allowed && h.live != nil {
		log.Debug("confirming refusal against the API server")
		v, err = decide(ctx, h.live, req.Operation, obj, value)
	}
	if err != nil {
		log.Error("reading the configuration", "err", err)
		return deny(http.StatusInternalServerError, metav1.StatusReasonInternalError,
			"Herald's webhook cannot read the current configuration: "+err.Error(), nil)
	}
	warnings := make([]string, len(v.Warnings))
	for i, w := range v.Warnings {
		warnings[i] = cleanWarning(w)
	}
	if v.Allowed {
		log.Debug("admitted", "warnings", len(warnings))
		return &admissionv1.AdmissionResponse{Allowed: true, Warnings: warnings}
	}
	log.Info("refused", "reason", v.Message())
	var resp *admissionv1.AdmissionResponse
	if v.Refusal != "" {
		resp = deny(http.StatusForbidden, metav1.StatusReasonForbidden, v.Refusal, &metav1.StatusDetails{
			Group: Group, Kind: obj.Kind, Name: obj.Name})
	} else {
		details := &metav1.StatusDetails{Group: Group, Kind: obj.Kind, Name: obj.Name}
		for _, e := range v.Errors {
			c := metav1.StatusCause{Type: metav1.CauseTypeFieldValueInvalid, Message: e.Error()}
			// A cause's field is a path in the object under review; an
			// error on another object says which in its message only.
			if e.Kind == obj.Kind && e.Name == obj.Name && e.Namespace == obj.Namespace {
				c.Field = e.Field
			}
			details.Causes = append(details.Causes, c)
		}
		// Forbidden, not Invalid: for Invalid, kubectl prints only the
		// causes ("The Kind "name" is invalid: field: ..."), which drops the
		// namespace and garbles errors on other objects; for Forbidden it
		// prints the message, config's lines exactly, as MetalLB users see
		// a refusal.
		resp = deny(http.StatusForbidden, metav1.StatusReasonForbidden, v.Message(), details)
	}
	resp.Warnings = warnings
	return resp
}

// decide reads the configuration from src and judges the request against it.
func decide(ctx context.Context, src Source, op admissionv1.Operation, obj object, value any) (verdict, error) {
	cur, err := input(ctx, src)
	if err != nil {
		return verdict{}, err
	}
	if op == admissionv1.Delete {
		if v, refused := inUse(obj, cur); refused {
			return v, nil
		}
	}
	after := without(cur, obj.Kind, obj.Name)
	if value != nil {
		after = with(after, value)
	}
	return judge(op, obj, config.Analyze(cur), config.Analyze(after)), nil
}

func deny(code int32, reason metav1.StatusReason, msg string, details *metav1.StatusDetails) *admissionv1.AdmissionResponse {
	return &admissionv1.AdmissionResponse{Allowed: false, Result: &metav1.Status{
		Status: metav1.StatusFailure, Code: code, Reason: reason, Message: msg, Details: details,
	}}
}
