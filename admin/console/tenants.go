package console

import "github.com/gin-gonic/gin"

func (h *Handler) tenantRoutes(s *gin.RouterGroup) {}
